-- Where each worker serves /healthz and /metrics: two workers on one host
-- without WORKER_METRICS_ADDR take different ports, and operators need to
-- know which. NULL for workers registered before this column existed.
ALTER TABLE workers ADD COLUMN metrics_addr text;
