// Live status: each unfinished job's row follows its event stream until the outcome.
"use strict";
for (const row of document.querySelectorAll("tr[data-finished='no']")) {
  const cell = row.querySelector(".status");
  const show = (status) => {
    cell.textContent = status;
    cell.className = "status status-" + status;
  };
  const events = new EventSource("/jobs/" + encodeURIComponent(row.dataset.job) + "/events");
  events.addEventListener("status", (e) => show(JSON.parse(e.data).data.status));
  events.addEventListener("progress", () => show("running"));
  events.addEventListener("outcome", (e) => {
    const outcome = JSON.parse(e.data).data;
    show(outcome.status);
    row.querySelector(".attempts").textContent = outcome.attempts;
    row.dataset.finished = "yes";
    events.close();
  });
}
