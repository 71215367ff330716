-- The contract for dashboards and scripts (docs/fleet.md): these two views keep their columns.
CREATE VIEW dwell_visits AS
SELECT store, camera, id AS visit_id, at AS ended_at,
       (payload ->> 'dwell_s')::double precision AS dwell_s,
       (payload ->> 'staff')::boolean AS staff,
       (payload ->> 'entered')::boolean AS entered,
       (payload ->> 'exited')::boolean AS exited
FROM dwell_record WHERE kind = 'visit';

CREATE VIEW dwell_pings AS
SELECT p.store, p.camera, p.payload ->> 'ping_id' AS ping_id, p.payload ->> 'reason' AS reason,
       p.at AS sent_at, a.at AS acked_at, a.payload ->> 'action' AS ack_action,
       (p.payload ->> 'dwell_s')::double precision AS dwell_s,
       t.at AS attended_at
FROM dwell_record p
LEFT JOIN LATERAL (
    SELECT at, payload FROM dwell_record
    WHERE kind = 'ack' AND payload ->> 'ping_id' = p.payload ->> 'ping_id'
      AND store = p.store AND camera = p.camera
    ORDER BY at LIMIT 1) a ON true
LEFT JOIN LATERAL (
    SELECT at FROM dwell_record
    WHERE kind = 'attended' AND payload ->> 'ping_id' = p.payload ->> 'ping_id'
      AND store = p.store AND camera = p.camera
    ORDER BY at LIMIT 1) t ON true
WHERE p.kind = 'ping';
