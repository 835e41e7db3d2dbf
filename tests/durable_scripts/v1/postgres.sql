CREATE TABLE IF NOT EXISTS plait_jobs (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    not_before DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    idempotency_key TEXT UNIQUE,
    lease_token BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires DOUBLE PRECISION,
    lost_leases INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS plait_jobs_claim ON plait_jobs
    (priority DESC, not_before, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS plait_jobs_lease ON plait_jobs
    (lease_expires) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS plait_jobs_finished ON plait_jobs
    (finished_at) WHERE state IN ('done', 'dead');
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (1, 'ok', '{"n": 0}', 0, 'done', 1796640283.132202, 1, 1, NULL, 1, NULL, NULL, 0, '{"n": 0}', NULL, 1796640283.1324518, 1796640283.1563745, 1796640283.1611125);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (2, 'ok', '{"n": 1}', 1, 'done', 1796640283.132212, 1, 1, NULL, 1, NULL, NULL, 0, '{"n": 1}', NULL, 1796640283.1324518, 1796640283.1563745, 1796640283.1611125);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (3, 'ok', '{"n": 2}', 2, 'done', 1796640283.1322157, 1, 1, NULL, 1, NULL, NULL, 0, '{"n": 2}', NULL, 1796640283.1324518, 1796640283.1563745, 1796640283.1611125);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (4, 'flaky', '{"n": 1}', 0, 'done', 1796640283.1607969, 2, 3, NULL, 2, NULL, NULL, 0, '2', 'Traceback (most recent call last):
  File "/work/main/src/plait/_jobs/durable/_outcome.py", line 80, in run_handler
    value = await handler.fn(job)
            ^^^^^^^^^^^^^^^^^^^^^
  File "/work/wt/durable/tests/durable_scripts/make_v1_dumps.py", line 46, in flaky
    raise ValueError(f"flaky attempt {job.attempt}")
ValueError: flaky attempt 1
', 1796640283.1324518, 1796640283.1650052, 1796640283.1707015);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (5, 'bad', '{"n": 2}', 0, 'dead', 1796640283.160941, 2, 2, NULL, 2, NULL, NULL, 0, NULL, 'Traceback (most recent call last):
  File "/work/main/src/plait/_jobs/durable/_outcome.py", line 80, in run_handler
    value = await handler.fn(job)
            ^^^^^^^^^^^^^^^^^^^^^
  File "/work/wt/durable/tests/durable_scripts/make_v1_dumps.py", line 51, in bad
    raise KeyError(f"missing {job.payload[''n'']}")
KeyError: ''missing 2''
', 1796640283.1324518, 1796640283.1650052, 1796640283.1707015);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (6, 'later', '{"n": 3}', 0, 'retrying', 1796643622.4196222, 1, 5, NULL, 1, NULL, NULL, 0, NULL, 'Traceback (most recent call last):
  File "/work/main/src/plait/_jobs/durable/_outcome.py", line 80, in run_handler
    value = await handler.fn(job)
            ^^^^^^^^^^^^^^^^^^^^^
  File "/work/wt/durable/tests/durable_scripts/make_v1_dumps.py", line 55, in later
    raise RuntimeError("try again in an hour")
RuntimeError: try again in an hour
', 1796640283.1324518, 1796640283.1563745, NULL);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (7, 'nobody', '{"n": 4}', 0, 'dead', 1796640283.1322298, 1, NULL, NULL, 1, NULL, NULL, 0, NULL, 'no handler registered for job type ''nobody'' at worker vm:27525:7fa642dbd650 (it handles: ''bad'', ''flaky'', ''later'', ''ok'')', 1796640283.1324518, 1796640283.1563745, 1796640283.1611125);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (8, 'ok', '{"n": 5}', 0, 'done', 1796640283.132233, 1, 1, 'key-5', 1, NULL, NULL, 0, '{"n": 5}', NULL, 1796640283.1324518, 1796640283.1563745, 1796640283.1611125);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (9, 'ok', '{"n": 10}', 0, 'queued', 1796640283.1866536, 0, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, 1796640283.1867204, NULL, NULL);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (10, 'ok', '{"n": 11}', 5, 'queued', 1796640283.1866622, 0, NULL, 'key-11', 0, NULL, NULL, 0, NULL, NULL, 1796640283.1867204, NULL, NULL);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (11, 'ok', '{"n": 12}', 0, 'queued', 1797245083.186631, 0, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, 1796640283.1867204, NULL, NULL);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (12, 'ok', '{"n": 13}', 0, 'running', 1796640283.1866689, 1, NULL, NULL, 1, 'v1-live', 1797245083.2051208, 0, NULL, NULL, 1796640283.1867204, 1796640283.2051208, NULL);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (13, 'ok', '{"n": 14}', 0, 'running', 1796640283.1866722, 1, NULL, NULL, 1, 'v1-gone', 1796640283.2061207, 0, NULL, NULL, 1796640283.1867204, 1796640283.2051208, NULL);
INSERT INTO plait_jobs (id, type, payload, priority, state, not_before, attempts, max_attempts, idempotency_key, lease_token, lease_owner, lease_expires, lost_leases, result, error, created_at, started_at, finished_at) VALUES (14, 'ok', '{"n": 15}', 0, 'dead', 1796640283.186676, 1, NULL, NULL, 3, NULL, NULL, 3, NULL, 'lease lost 3 times: the worker running it died or hung (last: v1-crash-2)', 1796640283.1867204, 1796640283.2051208, 1796640284.2051208);
SELECT setval(pg_get_serial_sequence('plait_jobs', 'id'), (SELECT max(id) FROM plait_jobs));
