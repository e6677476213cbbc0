package wire

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// MaxTimeoutValue is the largest number a grpc-timeout can hold: "TimeoutValue
// → {positive integer as ASCII string of at most 8 digits}".
const MaxTimeoutValue = 99_999_999

// timeoutUnits are the grpc-timeout units, finest first. From
// PROTOCOL-HTTP2.md:
//
//	TimeoutUnit → Hour / Minute / Second / Millisecond / Microsecond / Nanosecond
//	Hour → "H"  Minute → "M"  Second → "S"  Millisecond → "m"  Microsecond → "u"  Nanosecond → "n"
var timeoutUnits = [...]struct {
	unit byte
	d    time.Duration
}{
	{'n', time.Nanosecond},
	{'u', time.Microsecond},
	{'m', time.Millisecond},
	{'S', time.Second},
	{'M', time.Minute},
	{'H', time.Hour},
}

// EncodeTimeout returns the grpc-timeout value for the time left until a
// call's deadline:
//
//	Timeout → "grpc-timeout" TimeoutValue TimeoutUnit
//	TimeoutValue → {positive integer as ASCII string of at most 8 digits}
//
// It picks units like grpc-go: the coarsest unit that divides d exactly
// (1s → "1S", 1500ms → "1500m"); if the value in that unit has more than 8
// digits, the next coarser unit in which it fits, rounding up, so the peer
// never sees a shorter timeout than the caller's (100000001ns →
// "100001u"). Every time.Duration fits: the largest is "2562048H".
//
// d <= 0 gives "0n": the deadline has passed, and the server fails the
// call with DEADLINE_EXCEEDED at once. (grpc-go sends "0S"; both decode to
// zero.) The result is at most 9 bytes long.
func EncodeTimeout(d time.Duration) string {
	if d <= 0 {
		return "0n"
	}
	i := len(timeoutUnits) - 1
	for ; i > 0; i-- {
		if d%timeoutUnits[i].d == 0 {
			break
		}
	}
	v := ceilDiv(d, timeoutUnits[i].d)
	for v > MaxTimeoutValue && i+1 < len(timeoutUnits) {
		i++
		v = ceilDiv(d, timeoutUnits[i].d)
	}
	var buf [9]byte
	b := strconv.AppendInt(buf[:0], v, 10)
	return string(append(b, timeoutUnits[i].unit))
}

func ceilDiv(d, unit time.Duration) int64 {
	q := int64(d / unit)
	if d%unit > 0 {
		q++
	}
	return q
}

// DecodeTimeout parses a grpc-timeout value: 1 to 8 ASCII digits followed by
// one of the units H, M, S, m, u, n. Anything else (no digits, more than 8
// digits, a sign, spaces, an unknown unit) is an error; a server should fail
// such a call with INTERNAL, as grpc-go does ("malformed grpc-timeout").
// Leading zeros are accepted. A value too large for time.Duration (only
// possible in hours, above 2562047H) is clamped to the largest Duration,
// roughly 292 years, as grpc-go does.
func DecodeTimeout(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, errors.New("parley: malformed grpc-timeout " + strconv.Quote(s) + ": too short")
	}
	if len(s) > 9 {
		return 0, errors.New("parley: malformed grpc-timeout " + strconv.Quote(s) + ": more than 8 digits")
	}
	var unit time.Duration
	for _, u := range timeoutUnits {
		if s[len(s)-1] == u.unit {
			unit = u.d
			break
		}
	}
	if unit == 0 {
		return 0, errors.New("parley: malformed grpc-timeout " + strconv.Quote(s) + ": unknown unit")
	}
	var v int64
	for i := 0; i < len(s)-1; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("parley: malformed grpc-timeout " + strconv.Quote(s) + ": not a decimal number")
		}
		v = v*10 + int64(c-'0')
	}
	if v > int64(math.MaxInt64/unit) {
		return time.Duration(math.MaxInt64), nil
	}
	return time.Duration(v) * unit, nil
}
