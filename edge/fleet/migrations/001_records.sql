-- Every record as received, once (id is stable across resends), and the hourly roll-up the
-- collector keeps up to date in the same transaction.
CREATE TABLE dwell_record (
    id          text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('visit', 'ping', 'ack', 'attended', 'held')),
    store       text NOT NULL,
    camera      text NOT NULL,
    at          timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dwell_record_by_place ON dwell_record (store, camera, kind, at);
CREATE INDEX dwell_record_ping ON dwell_record ((payload ->> 'ping_id'))
    WHERE kind IN ('ack', 'attended');

CREATE TABLE dwell_hourly (
    store            text NOT NULL,
    camera           text NOT NULL,
    hour             timestamptz NOT NULL,
    visits           integer NOT NULL DEFAULT 0,
    staff_visits     integer NOT NULL DEFAULT 0,
    dwell_s_sum      double precision NOT NULL DEFAULT 0,
    entered          integer NOT NULL DEFAULT 0,
    exited           integer NOT NULL DEFAULT 0,
    pings            integer NOT NULL DEFAULT 0,
    acks             integer NOT NULL DEFAULT 0,
    ack_s_sum        double precision NOT NULL DEFAULT 0,
    attended         integer NOT NULL DEFAULT 0,
    attended_s_sum   double precision NOT NULL DEFAULT 0,
    held             integer NOT NULL DEFAULT 0,
    PRIMARY KEY (store, camera, hour)
);
