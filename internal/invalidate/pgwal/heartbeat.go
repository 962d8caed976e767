package pgwal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// heartbeat writes a heartbeat message every interval (and on request from
// WaitApplied) and samples the server's position and the slot's state.
func (c *Consumer) heartbeat() {
	defer c.wg.Done()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(c.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		if conn == nil || conn.IsClosed() {
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			var err error
			conn, err = pgx.Connect(ctx, c.opts.DSN)
			cancel()
			if err != nil {
				conn = nil
				if c.ctx.Err() == nil {
					c.log.Debug("heartbeat connection failed", slog.String("error.message", err.Error()))
				}
				continue
			}
		}
		if err := c.beat(conn); err != nil && c.ctx.Err() == nil {
			c.log.Debug("heartbeat failed", slog.String("error.message", err.Error()))
			conn.Close(context.Background())
			conn = nil
		}
	}
}

// beat emits one heartbeat and samples the slot.
func (c *Consumer) beat(conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	t0 := strconv.FormatInt(time.Now().UnixNano(), 10)
	if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(false, '"+heartbeatPrefix+"', $1::text)", t0); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	var server LSN
	var lag *int64
	var status *string
	err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn(), (pg_current_wal_lsn() - confirmed_flush_lsn)::int8, wal_status
		FROM pg_replication_slots WHERE slot_name = $1`, c.opts.Slot).Scan(&server, &lag, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		// The stream finds out too (START_REPLICATION fails with "does
		// not exist") and recreates it; flagging it here as well would
		// race with that and recreate twice.
		c.log.Warn("replication slot is missing", slog.String("slot", c.opts.Slot))
		return nil
	}
	if err != nil {
		return fmt.Errorf("slot state: %w", err)
	}
	if status != nil && *status == "lost" {
		c.lost.Store(true)
	}
	c.log.Debug("beat", "server", server.String())
	c.mu.Lock()
	c.server = server
	if lag != nil {
		c.slotLag = *lag
	}
	c.mu.Unlock()
	if lag != nil {
		c.m.SlotLagBytes.Set(float64(*lag))
	}
	return nil
}
