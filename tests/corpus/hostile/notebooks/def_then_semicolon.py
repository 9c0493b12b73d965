def helper(): return 1; raise SystemExit("the body of a kept def ran at import")
LIMIT = 3; helper(); raise SystemExit("statements after ';' ran")
