"""Knowledge from local files: the `knowledge.sync` job (issue 10 item 11)."""
