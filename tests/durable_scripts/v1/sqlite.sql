BEGIN TRANSACTION;
CREATE TABLE plait_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    not_before REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    idempotency_key TEXT UNIQUE,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires REAL,
    lost_leases INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
INSERT INTO "plait_jobs" VALUES(1,'ok','{"n": 0}',0,'done',1.79664028268662977214e+09,1,1,NULL,1,NULL,NULL,0,'{"n": 0}',NULL,1.79664028268680167196e+09,1.79664028269242024423e+09,1.79664028270218634609e+09);
INSERT INTO "plait_jobs" VALUES(2,'ok','{"n": 1}',1,'done',1.79664028268663954731e+09,1,1,NULL,1,NULL,NULL,0,'{"n": 1}',NULL,1.79664028268680167196e+09,1.79664028269242024423e+09,1.79664028270218634609e+09);
INSERT INTO "plait_jobs" VALUES(3,'ok','{"n": 2}',2,'done',1.79664028268664360049e+09,1,1,NULL,1,NULL,NULL,0,'{"n": 2}',NULL,1.79664028268680167196e+09,1.79664028269242024423e+09,1.79664028270218634609e+09);
INSERT INTO "plait_jobs" VALUES(4,'flaky','{"n": 1}',0,'done',1.79664028270165252688e+09,2,3,NULL,2,NULL,NULL,0,'2','Traceback (most recent call last):
  File "/work/main/src/plait/_jobs/durable/_outcome.py", line 80, in run_handler
    value = await handler.fn(job)
            ^^^^^^^^^^^^^^^^^^^^^
  File "/work/wt/durable/tests/durable_scripts/make_v1_dumps.py", line 46, in flaky
    raise ValueError(f"flaky attempt {job.attempt}")
ValueError: flaky attempt 1
',1.79664028268680167196e+09,1.79664028273020076748e+09,1.79664028273150563237e+09);
INSERT INTO "plait_jobs" VALUES(5,'bad','{"n": 2}',0,'dead',1.79664028270192527771e+09,2,2,NULL,2,NULL,NULL,0,NULL,'Traceback (most recent call last):
  File "/work/main/src/plait/_jobs/durable/_outcome.py", line 80, in run_handler
    value = await handler.fn(job)
            ^^^^^^^^^^^^^^^^^^^^^
  File "/work/wt/durable/tests/durable_scripts/make_v1_dumps.py", line 51, in bad
    raise KeyError(f"missing {job.payload[''n'']}")
KeyError: ''missing 2''
',1.79664028268680167196e+09,1.79664028273020076748e+09,1.79664028273150563237e+09);
INSERT INTO "plait_jobs" VALUES(6,'later','{"n": 3}',0,'retrying',1.79664361698706531527e+09,1,5,NULL,1,NULL,NULL,0,NULL,'Traceback (most recent call last):
  File "/work/main/src/plait/_jobs/durable/_outcome.py", line 80, in run_handler
    value = await handler.fn(job)
            ^^^^^^^^^^^^^^^^^^^^^
  File "/work/wt/durable/tests/durable_scripts/make_v1_dumps.py", line 55, in later
    raise RuntimeError("try again in an hour")
RuntimeError: try again in an hour
',1.79664028268680167196e+09,1.79664028269242024423e+09,NULL);
INSERT INTO "plait_jobs" VALUES(7,'nobody','{"n": 4}',0,'dead',1.79664028268666052818e+09,1,NULL,NULL,1,NULL,NULL,0,NULL,'no handler registered for job type ''nobody'' at worker vm:27525:7fa652ada990 (it handles: ''bad'', ''flaky'', ''later'', ''ok'')',1.79664028268680167196e+09,1.79664028269242024423e+09,1.79664028270218634609e+09);
INSERT INTO "plait_jobs" VALUES(8,'ok','{"n": 5}',0,'done',1.79664028268666625025e+09,1,1,'key-5',1,NULL,NULL,0,'{"n": 5}',NULL,1.79664028268680167196e+09,1.79664028269242024423e+09,1.79664028270218634609e+09);
INSERT INTO "plait_jobs" VALUES(9,'ok','{"n": 10}',0,'queued',1.79664028274002933504e+09,0,NULL,NULL,0,NULL,NULL,0,NULL,NULL,1.79664028274010396002e+09,NULL,NULL);
INSERT INTO "plait_jobs" VALUES(10,'ok','{"n": 11}',5,'queued',1.79664028274003744131e+09,0,NULL,'key-11',0,NULL,NULL,0,NULL,NULL,1.79664028274010396002e+09,NULL,NULL);
INSERT INTO "plait_jobs" VALUES(11,'ok','{"n": 12}',0,'queued',1.7972450827400045395e+09,0,NULL,NULL,0,NULL,NULL,0,NULL,NULL,1.79664028274010396002e+09,NULL,NULL);
INSERT INTO "plait_jobs" VALUES(12,'ok','{"n": 13}',0,'running',1.79664028274004459375e+09,1,NULL,NULL,1,'v1-live',1.79724508274278140071e+09,0,NULL,NULL,1.79664028274010396002e+09,1.79664028274278140063e+09,NULL);
INSERT INTO "plait_jobs" VALUES(13,'ok','{"n": 14}',0,'running',1.79664028274004793171e+09,1,NULL,NULL,1,'v1-gone',1.7966402827437813282e+09,0,NULL,NULL,1.79664028274010396002e+09,1.79664028274278140063e+09,NULL);
INSERT INTO "plait_jobs" VALUES(14,'ok','{"n": 15}',0,'dead',1.79664028274005150792e+09,1,NULL,NULL,3,NULL,NULL,3,NULL,'lease lost 3 times: the worker running it died or hung (last: v1-crash-2)',1.79664028274010396002e+09,1.79664028274278140063e+09,1.79664028374278140066e+09);
CREATE INDEX plait_jobs_claim ON plait_jobs
    (priority DESC, not_before, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX plait_jobs_lease ON plait_jobs
    (lease_expires) WHERE state = 'running';
CREATE INDEX plait_jobs_finished ON plait_jobs
    (finished_at) WHERE state IN ('done', 'dead');
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('plait_jobs',14);
COMMIT;
