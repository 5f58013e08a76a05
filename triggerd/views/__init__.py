"""The data of every CLI ``--json`` view, built from the store and the config: what
`triggerd schedules list | describe`, `runs list | show` and `status` print, and what the
daemon's ``/api/`` serves (the same fields, so the page and scripts agree)."""
