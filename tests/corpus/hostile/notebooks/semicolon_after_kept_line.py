SEED = 0; raise SystemExit("a statement after ';' on a kept line ran")
