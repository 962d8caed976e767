package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// op is one operation: a read (GET) or a write (SET/PUT) of key index key.
type op struct {
	write bool
	key   int
}

// resultKind classifies the reply to one op.
type resultKind uint8

const (
	resOK    resultKind = iota // a write was acknowledged
	resHit                     // a read returned a value
	resMiss                    // a read found no value
	resError                   // the server answered with an error
)

// result is the outcome of one op: its kind, the error kind when it is
// resError, and when its reply was read.
type result struct {
	kind    resultKind
	errKind string
	at      time.Time
}

// target makes connections to the server under test.
type target interface {
	dial(ctx context.Context) (client, error)
	close()
}

// client is one connection, used by one goroutine.
type client interface {
	// do sends ops and fills res[i] for each, in order. A non-nil error
	// means the connection failed; results not yet filled are lost and the
	// caller must close the client and dial a new one.
	do(ctx context.Context, ops []op, res []result) error
	close() error
}

// newTarget returns the target o describes. o must be validated.
func newTarget(o *Options) (target, error) {
	value := Value(o.ValueSize)
	switch o.Target {
	case RESP:
		return &respTarget{addr: o.Addr, prefix: o.KeyPrefix, value: value, timeout: o.Timeout}, nil
	default:
		return newHTTPTarget(o, value)
	}
}

// protocolError is a reply the client could not parse.
type protocolError string

func errProtocol(msg string) error    { return protocolError(msg) }
func (e protocolError) Error() string { return "protocol error: " + string(e) }

// errorKind names the class of a transport error for Report.ErrorsByKind:
// "timeout", "connection closed", "connection refused", "protocol" or "io".
func errorKind(err error) string {
	var pe protocolError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return "protocol"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "connection closed"
	default:
		return "io"
	}
}
