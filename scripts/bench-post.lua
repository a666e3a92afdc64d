-- wrk script (scripts/bench): POSTs the body in $BODY; headers come from the command line.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
