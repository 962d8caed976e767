package pgwal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// heartbeatPrefix is the logical message prefix of heartbeats.
const heartbeatPrefix = "strata"

// errSlotLost marks a session that ended because the slot is gone or
// invalidated.
var errSlotLost = errors.New("replication slot lost")

// stream runs replication sessions until Close, reconnecting with backoff.
func (c *Consumer) stream() {
	defer c.wg.Done()
	backoff := c.opts.ReconnectMin
	for {
		start := time.Now()
		err := c.session(c.ctx)
		c.connected.Store(false)
		if c.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errSlotLost) || c.lost.Load() {
			if rerr := c.recreate(c.ctx); rerr != nil {
				err = fmt.Errorf("%w; recreating it: %w", err, rerr)
			}
		}
		c.setErr(err)
		c.reconnects.Add(1)
		c.m.Reconnects.Inc()
		if time.Since(start) > 10*time.Second {
			backoff = c.opts.ReconnectMin // it streamed for a while: start over
		}
		c.log.Warn("replication session ended; reconnecting",
			slog.String("error.message", fmt.Sprint(err)), slog.Duration("backoff", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, c.opts.ReconnectMax)
	}
}

// recreate drops what is left of a lost slot, creates it again and flushes
// every bound resource (changes between the lost position and the new slot
// are gone). The flush comes after the creation: any fill that read before
// the new slot's start is fenced by it, and every later change streams.
func (c *Consumer) recreate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgconnect(ctx, c.opts.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	slot := quoteLiteral(c.opts.Slot)
	_ = conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = "+slot).Close()
	if err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot("+slot+", 'pgoutput')").Close(); err != nil {
		return fmt.Errorf("create replication slot %s: %w", c.opts.Slot, err)
	}
	c.lost.Store(false)
	c.recreated.Add(1)
	c.m.SlotRecreated.Inc()
	c.flushAll("replication slot " + c.opts.Slot + " was lost and has been recreated")
	return nil
}

func pgconnect(ctx context.Context, dsn string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return pgconn.ConnectConfig(ctx, cfg)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// isSlotLost reports whether a START_REPLICATION error says the slot is
// missing or invalidated (not merely in use by another session).
func isSlotLost(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "42704": // undefined_object: replication slot does not exist
		return true
	case "55000": // object_not_in_prerequisite_state
		return strings.Contains(pe.Message, "invalidated") || strings.Contains(pe.Message, "can no longer") ||
			strings.Contains(pe.Detail, "invalidated")
	}
	return false
}

// session is one replication connection: start streaming from the slot's
// confirmed position, apply, acknowledge.
func (c *Consumer) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cfg, err := pgconn.ParseConfig(c.opts.DSN)
	if err != nil {
		cancel()
		return err
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["TimeZone"] = "UTC"
	cfg.RuntimeParams["DateStyle"] = "ISO, YMD"
	cfg.RuntimeParams["application_name"] = "strata-wal"
	conn, err := pgconn.ConnectConfig(cctx, cfg)
	if err != nil {
		cancel()
		return fmt.Errorf("replication connection: %w", err)
	}
	defer conn.Close(context.Background())
	err = pglogrepl.StartReplication(cctx, conn, c.opts.Slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names " + quoteLiteral(c.opts.Publication), "messages 'true'"},
	})
	cancel()
	if err != nil {
		if isSlotLost(err) {
			return fmt.Errorf("%w: %w", errSlotLost, err)
		}
		return fmt.Errorf("start replication: %w", err)
	}
	c.connected.Store(true)
	c.setErr(nil)
	c.log.Info("streaming WAL", slog.String("slot", c.opts.Slot), slog.String("publication", c.opts.Publication))

	vconn, err := pgconnect(ctx, c.opts.DSN)
	if err != nil {
		return fmt.Errorf("visibility connection: %w", err)
	}
	defer vconn.Close(context.Background())
	d := &decoder{c: c, rels: map[uint32]*relation{}, keys: map[string]*table{}, flushes: map[string]*table{},
		visible: func(xid uint32) error { return waitVisible(ctx, vconn, xid) }}
	nextStatus := time.Now().Add(c.opts.StatusInterval)
	for {
		if c.lost.Load() {
			return errSlotLost
		}
		if !time.Now().Before(nextStatus) {
			if err := c.sendStatus(ctx, conn); err != nil {
				return err
			}
			nextStatus = time.Now().Add(c.opts.StatusInterval)
		}
		rctx, rcancel := context.WithDeadline(ctx, nextStatus)
		raw, err := conn.ReceiveMessage(rctx)
		rcancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
		switch msg := raw.(type) {
		case *pgproto3.ErrorResponse:
			err := pgconn.ErrorResponseToPgError(msg)
			if isSlotLost(err) {
				return fmt.Errorf("%w: %w", errSlotLost, err)
			}
			return fmt.Errorf("server: %w", err)
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("keepalive: %w", err)
				}
				if !d.inTxn {
					// Everything the walsender decoded up to ServerWALEnd
					// has been sent before this keepalive, and applied.
					c.advance(ka.ServerWALEnd, time.Time{}, time.Time{})
				}
				if ka.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("xlogdata: %w", err)
				}
				if err := d.handle(xld); err != nil {
					return err
				}
			}
		default:
			// NoticeResponse and the like: nothing to do.
		}
	}
}

// sendStatus reports the applied position as written, flushed and applied.
// It never reports more than applied, so the slot keeps whatever has not
// been invalidated yet.
func (c *Consumer) sendStatus(ctx context.Context, conn *pgconn.PgConn) error {
	pos := c.Applied()
	err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pos, WALFlushPosition: pos, WALApplyPosition: pos, ClientTime: time.Now(),
	})
	if err != nil {
		return fmt.Errorf("standby status update: %w", err)
	}
	c.mu.Lock()
	if pos > c.confirmed {
		c.confirmed = pos
	}
	c.mu.Unlock()
	c.m.ConfirmedLSN.Set(float64(pos))
	return nil
}

// parseHeartbeat reads a heartbeat's payload: strata's clock at emission,
// in Unix nanoseconds.
func parseHeartbeat(b []byte) (time.Time, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// visibleSQL reports whether the transaction with 32-bit xid $1 is visible
// to a snapshot taken now. The xid is widened to an xid8 with the epoch of
// the snapshot's xmax (the transaction is older than it).
const visibleSQL = `WITH s AS (SELECT pg_current_snapshot() AS snap),
x AS (SELECT snap, pg_snapshot_xmax(snap)::text::int8 AS xmax FROM s),
w AS (SELECT snap, xmax, ((xmax >> 32) << 32) | $1::int8 AS x8 FROM x)
SELECT pg_visible_in_snapshot((CASE WHEN x8 >= xmax AND x8 >= 4294967296 THEN x8 - 4294967296 ELSE x8 END)::text::xid8, snap) FROM w`

// waitVisible waits until transaction xid, whose commit record the stream
// delivered, is visible to new snapshots (PostgreSQL flushes the commit
// record, then marks the transaction done in the proc array). It polls; the
// gap is microseconds.
func waitVisible(ctx context.Context, conn *pgconn.PgConn, xid uint32) error {
	arg := []byte(strconv.FormatUint(uint64(xid), 10))
	for i := 0; ; i++ {
		res := conn.ExecParams(ctx, visibleSQL, [][]byte{arg}, nil, nil, nil).Read()
		if res.Err != nil {
			return fmt.Errorf("visibility of xid %d: %w", xid, res.Err)
		}
		if len(res.Rows) == 1 && len(res.Rows[0]) == 1 && string(res.Rows[0][0]) == "t" {
			return nil
		}
		if i > 10000 {
			return fmt.Errorf("transaction %d committed in the WAL but not visible after %d checks", xid, i)
		}
		time.Sleep(50 * time.Microsecond)
	}
}
