#!/usr/bin/env bash
# Ferry's demo on the embedded default: the local Redis and Postgres, and the sandbox standing in
# for OpenAI, seeded with a source project of four assistants (v2 protocol, as before the
# shutdown) and an empty destination project (Responses style). Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${VENV:-.venv}"
ferry="$venv/bin/ferry"
out=out/demo
mkdir -p "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port/v1"
# The sandbox's demo keys are fake: they open only this local sandbox.
src_key=sk-proj-demo-src-0000000000000000000000000000
dst_key=sk-proj-demo-dst-0000000000000000000000000000

export DATABASE_SCHEMA=ferry_demo REDIS_KEY_PREFIX=ferry-demo LOG_LEVEL=warn
# Where the worker writes clone reports (mapping.json, report.md).
export OUTPUT_DIR="$PWD/$out/clone"
export OPENAI_SRC_API_KEY=$src_key OPENAI_SRC_BASE_URL=$base OPENAI_SRC_API_STYLE=assistants
export OPENAI_SRC_ORG_ID=org-demo-src OPENAI_SRC_PROJECT_ID=proj_demo_src
export OPENAI_DST_API_KEY=$dst_key OPENAI_DST_BASE_URL=$base OPENAI_DST_API_STYLE=responses
export OPENAI_DST_ORG_ID=org-demo-dst OPENAI_DST_PROJECT_ID=proj_demo_dst
# Chat turns (the last section) run the function tool `lookup_order` with this Python callable.
export CHAT_PYTHON_TOOLS='{"lookup_order": "scripts.demo_tools.lookup_order"}'

step "the sandbox (OpenAI stand-in) on 127.0.0.1:$port, seeded with the demo fixture"
"$ferry" sandbox --port "$port" --seed demo --log-level warning &
sandbox_pid=$!
worker_pid=""
cleanup() {
  if [ -n "$worker_pid" ]; then
    kill -TERM "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" || echo "the worker exited with status $?" >&2
  fi
  kill -TERM "$sandbox_pid" 2>/dev/null || true
  wait "$sandbox_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/_sandbox/health" >/dev/null && break
  sleep 0.1
done

step "a clean demo schema ($DATABASE_SCHEMA) and key prefix ($REDIS_KEY_PREFIX)"
"$venv/bin/python" - <<'PY'
import asyncio

import asyncpg
from redis.asyncio import Redis

from producers.settings import ClientSettings


async def reset() -> None:
    settings = ClientSettings()
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE')
    await conn.close()
    redis = Redis.from_url(settings.redis_url)
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis_key_prefix}:*")]
    # arq keeps its own job and result keys (`arq:job:<prefix>:<id>`) for a day: an earlier
    # demo's would make today's jobs of the same id look done already.
    keys += [k async for k in redis.scan_iter(match=f"arq:*:{settings.redis_key_prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


asyncio.run(reset())
PY

step "ferry db migrate"
"$ferry" db migrate

step "ferry doctor"
"$ferry" doctor

step "a worker for every queue, in the background"
"$ferry" worker &
worker_pid=$!

step "the source project's assistants, dumped through the Assistants API as a team did before 2026-08-26"
curl -sf "$base/assistants?limit=100&order=asc" \
  -H "Authorization: Bearer $src_key" -H "OpenAI-Beta: assistants=v2" > "$out/src-assistants-dump.json"
"$venv/bin/python" - "$out/src-assistants-dump.json" <<'PY'
import json, sys
dump = json.load(open(sys.argv[1]))["data"]
print(f"{len(dump)} assistants dumped to {sys.argv[1]}:")
for a in dump:
    tools = ", ".join(t.get("function", {}).get("name", t["type"]) for t in a["tools"])
    print(f"  {a['id']}  {a['name']!r:34} {a['model']:12} tools: {tools}")
PY

step "ferry assistants import: the dump becomes registry definitions of profile dst (Responses style)"
"$ferry" assistants import "$out/src-assistants-dump.json" --profile dst

step "importing the same dump again changes nothing"
"$ferry" assistants import "$out/src-assistants-dump.json" --profile dst

echo "(Their tool_resources still name the source project's vector stores and files: carrying"
echo " those across is the clone job's work.)"

step "ferry assistants list"
"$ferry" assistants list

step "ferry assistants show 'Support Concierge' --profile dst (YAML that apply -f takes back)"
"$ferry" assistants show "Support Concierge" --profile dst > "$out/support-concierge.yaml"
head -n 30 "$out/support-concierge.yaml"
echo "  … (whole spec in $out/support-concierge.yaml)"

step "ferry assistants apply: a declarative edit, printed field by field"
sed -i 's/^temperature: .*/temperature: 0.2/' "$out/support-concierge.yaml"
"$ferry" assistants apply -f "$out/support-concierge.yaml" --profile dst

step "ferry assistants export --profile dst: a versioned snapshot that round-trips exactly"
"$ferry" assistants export --profile dst -o "$out/dst-registry.json"

sofia="Sofia — Clínica Sorriso Feliz"
step "ferry flow import: Sofia's prompt becomes a flow (globals + canonical prompt + block map)"
"$ferry" flow import "$sofia" -f sandbox/fixtures/demo/instructions/pt.md --profile dst --by demo

step "ferry flow show: the blocks with their spans (YAML, block scalars)"
"$ferry" flow show "$sofia" --profile dst > "$out/sofia-flow.yaml"
sed -n '/^blocks:/,/^canonical:/p' "$out/sofia-flow.yaml" | head -n 24
echo "  … (whole flow in $out/sofia-flow.yaml)"

step "ferry flow patch: one block edited as a local patch, published as the instructions"
"$ferry" flow patch "$sofia" block_0 --old "Como posso ajudar você hoje?" \
  --new "Em que posso ajudar hoje?" --publish production --profile dst --by demo

step "ferry flow history"
"$ferry" flow history "$sofia" --profile dst

originals="$PWD/sandbox/fixtures/demo/files"
step "ferry clone plan: the whole source project into dst, knowledge included (nothing written yet)"
"$ferry" clone plan --from src --to dst --prefix "PROD - " --file-search --code-interpreter \
  --originals "$originals" | tee "$out/clone-plan.txt"
plan_id=$(sed -n 's/^apply it with: ferry clone apply //p' "$out/clone-plan.txt")

step "ferry clone apply $plan_id: one job per assistant, live progress, then the summary"
"$ferry" clone apply "$plan_id"

step "the report ($OUTPUT_DIR/$plan_id/report.md)"
cat "$OUTPUT_DIR/$plan_id/report.md"

step "a second clone with no change at the source: every assistant unchanged, zero writes"
"$ferry" clone apply --from src --to dst --prefix "PROD - " --file-search --code-interpreter \
  --originals "$originals" | tail -n 12

step "jobs"
echo "The clone and flow jobs above rode this pipeline:"
"$ferry" jobs list --limit 8

# --- Chat-run jobs (issue 11) ------------------------------------------------------------------
step "chat: an assistant in profile dst (Responses style) with the function tool lookup_order"
cat > "$out/chat-concierge.yaml" <<'YAML'
name: Chat Concierge
model: gpt-4o
instructions: You are the shop's concierge. Look orders up with lookup_order.
tools:
  - type: code_interpreter
  - type: function
    name: lookup_order
    description: Find an order by its id.
    parameters:
      type: object
      properties:
        order_id: {type: string}
      required: [order_id]
YAML
"$ferry" assistants apply -f "$out/chat-concierge.yaml" --profile dst

step "ferry run: a task with a file attached (kept in the blob store), the answer written to a file"
printf 'order,total\nA-1001,42.50\n' > "$out/orders.csv"
"$ferry" run -a "Chat Concierge" -p dst -f "$out/orders.csv" --user demo-ana \
  -m "hello, I sent you my orders" -o "$out/answer.md"
cat "$out/answer.md"

step "ferry chat: a turn that calls the tool, then one that streams (the sandbox's model is scripted)"
printf '%s\n' 'call lookup_order {"order_id": "A-1001"}' \
  "tell me, word by word, when my parcel arrives" /quit |
  "$ferry" chat -a "Chat Concierge" -p dst --user demo-ana

printf '\nDone. Files in %s/. The worker and the sandbox stop now.\n' "$out"
