-- wrk script: POST the README example notification with a bearer token from $TIDINGS_BENCH_TOKEN.
wrk.method = "POST"
wrk.body = '{"type": "content.approved", "recipients": {"users": ["u-1"]}, "payload": {"content_id": "c-1"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TIDINGS_BENCH_TOKEN") or "none")
-- wrk itself reports "Non-2xx or 3xx responses" when any answer was not 202.
