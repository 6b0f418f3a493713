-- The W3C trace context of the request (or attempt) that wrote an outbox
-- row, so that a publish by the relay continues the same trace.
ALTER TABLE outbox ADD COLUMN traceparent text;
