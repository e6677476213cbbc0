package errdetails

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/wire"
)

// The types of google/rpc/error_details.proto. Each encodes as protobuf-go
// does (fields in number order, zero values left out, map entries sorted
// by key as its deterministic mode does), and decodes skipping unknown
// fields, so that what protoc-gen-go's code writes is read and what these
// write is read by it.

// ErrorInfo is google.rpc.ErrorInfo: why an error happened, as a
// machine-readable reason within a domain, with metadata.
type ErrorInfo struct {
	Reason   string            // UPPER_SNAKE_CASE, e.g. "API_DISABLED"
	Domain   string            // the service that made the error, e.g. "chat.parleyrpc.dev"
	Metadata map[string]string // further structured details
}

// RetryInfo is google.rpc.RetryInfo: how long to wait before retrying.
type RetryInfo struct {
	RetryDelay time.Duration // a google.protobuf.Duration on the wire
}

// DebugInfo is google.rpc.DebugInfo: debugging information.
type DebugInfo struct {
	StackEntries []string
	Detail       string
}

// QuotaFailure is google.rpc.QuotaFailure: the quota checks that failed.
type QuotaFailure struct {
	Violations []QuotaViolation
}

// QuotaViolation is google.rpc.QuotaFailure.Violation. Only its first two
// fields are kept; the newer quota fields are skipped when read.
type QuotaViolation struct {
	Subject     string
	Description string
}

// PreconditionFailure is google.rpc.PreconditionFailure: the preconditions
// that failed.
type PreconditionFailure struct {
	Violations []PreconditionViolation
}

// PreconditionViolation is google.rpc.PreconditionFailure.Violation.
type PreconditionViolation struct {
	Type        string
	Subject     string
	Description string
}

// BadRequest is google.rpc.BadRequest: the fields of a request that are
// invalid.
type BadRequest struct {
	FieldViolations []FieldViolation
}

// FieldViolation is google.rpc.BadRequest.FieldViolation.
type FieldViolation struct {
	Field            string // a path to the field, e.g. "members[2].nick"
	Description      string
	Reason           string
	LocalizedMessage *LocalizedMessage // nil if absent
}

// RequestInfo is google.rpc.RequestInfo: which request failed, for a bug
// report.
type RequestInfo struct {
	RequestID   string
	ServingData string
}

// ResourceInfo is google.rpc.ResourceInfo: the resource the error is
// about.
type ResourceInfo struct {
	ResourceType string
	ResourceName string
	Owner        string
	Description  string
}

// Help is google.rpc.Help: links to documentation.
type Help struct {
	Links []Link
}

// Link is google.rpc.Help.Link.
type Link struct {
	Description string
	URL         string
}

// LocalizedMessage is google.rpc.LocalizedMessage: an error message in a
// locale.
type LocalizedMessage struct {
	Locale  string // BCP 47, e.g. "en-US"
	Message string
}

// ProtoName returns "google.rpc.ErrorInfo".
func (*ErrorInfo) ProtoName() string { return "google.rpc.ErrorInfo" }

// ProtoName returns "google.rpc.RetryInfo".
func (*RetryInfo) ProtoName() string { return "google.rpc.RetryInfo" }

// ProtoName returns "google.rpc.DebugInfo".
func (*DebugInfo) ProtoName() string { return "google.rpc.DebugInfo" }

// ProtoName returns "google.rpc.QuotaFailure".
func (*QuotaFailure) ProtoName() string { return "google.rpc.QuotaFailure" }

// ProtoName returns "google.rpc.PreconditionFailure".
func (*PreconditionFailure) ProtoName() string { return "google.rpc.PreconditionFailure" }

// ProtoName returns "google.rpc.BadRequest".
func (*BadRequest) ProtoName() string { return "google.rpc.BadRequest" }

// ProtoName returns "google.rpc.RequestInfo".
func (*RequestInfo) ProtoName() string { return "google.rpc.RequestInfo" }

// ProtoName returns "google.rpc.ResourceInfo".
func (*ResourceInfo) ProtoName() string { return "google.rpc.ResourceInfo" }

// ProtoName returns "google.rpc.Help".
func (*Help) ProtoName() string { return "google.rpc.Help" }

// ProtoName returns "google.rpc.LocalizedMessage".
func (*LocalizedMessage) ProtoName() string { return "google.rpc.LocalizedMessage" }

// Encoding helpers.

func putString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// putStrings appends the string fields numbered 1, 2, ... in order,
// leaving out the empty ones.
func putStrings(b []byte, fields ...*string) []byte {
	for i, s := range fields {
		b = putString(b, protowire.Number(i+1), *s)
	}
	return b
}

// stringMessage is a message whose fields are all strings, numbered 1, 2,
// ... in the order fields lists them: the one place that order is
// written.
type stringMessage interface {
	fields() []*string
}

func (v *QuotaViolation) fields() []*string {
	return []*string{&v.Subject, &v.Description}
}

func (v *PreconditionViolation) fields() []*string {
	return []*string{&v.Type, &v.Subject, &v.Description}
}

func (m *RequestInfo) fields() []*string {
	return []*string{&m.RequestID, &m.ServingData}
}

func (m *ResourceInfo) fields() []*string {
	return []*string{&m.ResourceType, &m.ResourceName, &m.Owner, &m.Description}
}

func (l *Link) fields() []*string {
	return []*string{&l.Description, &l.URL}
}

func (m *LocalizedMessage) fields() []*string {
	return []*string{&m.Locale, &m.Message}
}

// putStringMessage appends m's fields.
func putStringMessage(b []byte, m stringMessage) []byte { return putStrings(b, m.fields()...) }

// decodeStringMessage decodes data into m.
func decodeStringMessage(data []byte, m stringMessage) error {
	return walk(data, func(f field) error { return setString(f, m.fields()...) })
}

// putRepeated appends vs as field 1, a repeated message of strings.
func putRepeated[T any, P interface {
	*T
	stringMessage
}](b []byte, vs []T) []byte {
	for i := range vs {
		b = putMessage(b, 1, putStringMessage(nil, P(&vs[i])))
	}
	return b
}

// decodeRepeated decodes field 1 of data, a repeated message of strings.
func decodeRepeated[T any, P interface {
	*T
	stringMessage
}](data []byte) ([]T, error) {
	return repeated(data, func(v *T, f field) error { return setString(f, P(v).fields()...) })
}

func putStringAlways(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func putMessage(b []byte, num protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

// field is one field handed to a decoder: its number, wire type, varint
// value or bytes.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	p   []byte
}

// walk decodes b's fields with fn.
func walk(b []byte, fn func(f field) error) error {
	return wire.WalkProto(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) error {
		return fn(field{num: num, typ: typ, v: v, p: p})
	})
}

// setString decodes f into fields[f.num-1], the string fields of a
// message numbered 1, 2, ... in order; a field of another number is
// skipped.
func setString(f field, fields ...*string) (err error) {
	if f.num < 1 || int(f.num) > len(fields) {
		return nil
	}
	*fields[f.num-1], err = f.str()
	return err
}

// msg decodes f, a message field, with fn; a field of another wire type
// is malformed.
func (f field) msg(fn func(f field) error) error {
	if f.typ != protowire.BytesType {
		return wire.ErrMalformedProto
	}
	return walk(f.p, fn)
}

// repeated decodes the occurrences of field 1 of data, a repeated message
// field (all that QuotaFailure, PreconditionFailure, BadRequest and Help
// hold), each into a new T whose fields fn sets.
func repeated[T any](data []byte, fn func(v *T, f field) error) ([]T, error) {
	var s []T
	err := walk(data, func(f field) error {
		if f.num != 1 {
			return nil
		}
		var v T
		if err := f.msg(func(f field) error { return fn(&v, f) }); err != nil {
			return err
		}
		s = append(s, v)
		return nil
	})
	return s, err
}

// str returns f's string, failing on a field of another wire type.
func (f field) str() (string, error) {
	if f.typ != protowire.BytesType {
		return "", wire.ErrMalformedProto
	}
	return string(f.p), nil
}

// AppendProto appends m's protobuf encoding to dst.
func (m *ErrorInfo) AppendProto(dst []byte) ([]byte, error) {
	dst = putStrings(dst, &m.Reason, &m.Domain)
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		// A map entry is a message {key = 1; value = 2}; protobuf-go
		// writes both even when empty.
		entry := putStringAlways(nil, 1, k)
		entry = putStringAlways(entry, 2, m.Metadata[k])
		dst = putMessage(dst, 3, entry)
	}
	return dst, nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *ErrorInfo) UnmarshalProto(data []byte) error {
	*m = ErrorInfo{}
	return walk(data, func(f field) error {
		if f.num != 3 {
			return setString(f, &m.Reason, &m.Domain)
		}
		var k, v string
		if err := f.msg(func(f field) error { return setString(f, &k, &v) }); err != nil {
			return err
		}
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		m.Metadata[k] = v
		return nil
	})
}

// AppendProto appends m's protobuf encoding to dst: RetryDelay as a
// google.protobuf.Duration {int64 seconds = 1; int32 nanos = 2}, the nanos
// with the sign of the seconds.
func (m *RetryInfo) AppendProto(dst []byte) ([]byte, error) {
	if m.RetryDelay == 0 {
		return dst, nil
	}
	d := wire.AppendSecondsNanosProto(nil, int64(m.RetryDelay/time.Second), int32(m.RetryDelay%time.Second))
	return putMessage(dst, 1, d), nil
}

// maxDurationSeconds is the largest number of seconds a
// google.protobuf.Duration may hold (about 10,000 years).
const maxDurationSeconds = 315_576_000_000

// UnmarshalProto decodes m from its protobuf encoding. A duration beyond
// what time.Duration holds (about 292 years) is clamped to its range; one
// out of google.protobuf.Duration's own range, or with nanos out of
// range or of the other sign than the seconds, is malformed.
func (m *RetryInfo) UnmarshalProto(data []byte) error {
	*m = RetryInfo{}
	return walk(data, func(f field) error {
		if f.num != 1 {
			return nil
		}
		var secs int64
		var nanos int32
		if err := f.msg(func(f field) error {
			switch f.num {
			case 1:
				if f.typ != protowire.VarintType {
					return wire.ErrMalformedProto
				}
				secs = int64(f.v)
			case 2:
				if f.typ != protowire.VarintType {
					return wire.ErrMalformedProto
				}
				nanos = int32(f.v)
			}
			return nil
		}); err != nil {
			return err
		}
		if secs < -maxDurationSeconds || secs > maxDurationSeconds || nanos <= -1e9 || nanos >= 1e9 || (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
			return wire.ErrMalformedProto
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		switch {
		case secs > maxSecs:
			m.RetryDelay = time.Duration(1<<63 - 1)
		case secs < -maxSecs:
			m.RetryDelay = time.Duration(-1 << 63)
		default:
			m.RetryDelay = time.Duration(secs)*time.Second + time.Duration(nanos)
		}
		return nil
	})
}

// AppendProto appends m's protobuf encoding to dst.
func (m *DebugInfo) AppendProto(dst []byte) ([]byte, error) {
	for _, s := range m.StackEntries {
		dst = putStringAlways(dst, 1, s)
	}
	return putString(dst, 2, m.Detail), nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *DebugInfo) UnmarshalProto(data []byte) error {
	*m = DebugInfo{}
	return walk(data, func(f field) (err error) {
		switch f.num {
		case 1:
			var s string
			s, err = f.str()
			m.StackEntries = append(m.StackEntries, s)
		case 2:
			m.Detail, err = f.str()
		}
		return err
	})
}

// AppendProto appends m's protobuf encoding to dst.
func (m *QuotaFailure) AppendProto(dst []byte) ([]byte, error) {
	return putRepeated(dst, m.Violations), nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *QuotaFailure) UnmarshalProto(data []byte) (err error) {
	m.Violations, err = decodeRepeated[QuotaViolation](data)
	return err
}

// AppendProto appends m's protobuf encoding to dst.
func (m *PreconditionFailure) AppendProto(dst []byte) ([]byte, error) {
	return putRepeated(dst, m.Violations), nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *PreconditionFailure) UnmarshalProto(data []byte) (err error) {
	m.Violations, err = decodeRepeated[PreconditionViolation](data)
	return err
}

// AppendProto appends m's protobuf encoding to dst.
func (m *BadRequest) AppendProto(dst []byte) ([]byte, error) {
	for _, v := range m.FieldViolations {
		b := putStrings(nil, &v.Field, &v.Description, &v.Reason)
		if v.LocalizedMessage != nil {
			lm, _ := v.LocalizedMessage.AppendProto(nil)
			b = putMessage(b, 4, lm)
		}
		dst = putMessage(dst, 1, b)
	}
	return dst, nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *BadRequest) UnmarshalProto(data []byte) (err error) {
	m.FieldViolations, err = repeated(data, func(v *FieldViolation, f field) error {
		if f.num != 4 {
			return setString(f, &v.Field, &v.Description, &v.Reason)
		}
		// Of repeated occurrences of a message field protobuf merges them;
		// the fields here are strings, so merging is decoding into the
		// same value.
		lm := LocalizedMessage{}
		if v.LocalizedMessage != nil {
			lm = *v.LocalizedMessage
		}
		if err := f.msg(func(f field) error { return setString(f, lm.fields()...) }); err != nil {
			return err
		}
		v.LocalizedMessage = &lm
		return nil
	})
	return err
}

// AppendProto appends m's protobuf encoding to dst.
func (m *RequestInfo) AppendProto(dst []byte) ([]byte, error) {
	return putStringMessage(dst, m), nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *RequestInfo) UnmarshalProto(data []byte) error {
	*m = RequestInfo{}
	return decodeStringMessage(data, m)
}

// AppendProto appends m's protobuf encoding to dst.
func (m *ResourceInfo) AppendProto(dst []byte) ([]byte, error) {
	return putStringMessage(dst, m), nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *ResourceInfo) UnmarshalProto(data []byte) error {
	*m = ResourceInfo{}
	return decodeStringMessage(data, m)
}

// AppendProto appends m's protobuf encoding to dst.
func (m *Help) AppendProto(dst []byte) ([]byte, error) {
	return putRepeated(dst, m.Links), nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *Help) UnmarshalProto(data []byte) (err error) {
	m.Links, err = decodeRepeated[Link](data)
	return err
}

// AppendProto appends m's protobuf encoding to dst.
func (m *LocalizedMessage) AppendProto(dst []byte) ([]byte, error) {
	return putStringMessage(dst, m), nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *LocalizedMessage) UnmarshalProto(data []byte) error {
	*m = LocalizedMessage{}
	return decodeStringMessage(data, m)
}
