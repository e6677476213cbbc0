package server

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleyrpc/parley/wire"
)

// Limits on names, as chat.proto documents them.
const (
	MaxRoomLen = 32
	MaxNickLen = 24
)

// ValidRoom reports whether name is a valid room name: 1 to 32 characters
// from a-z, 0-9, '-' and '_', starting with a letter or digit. The error is
// an INVALID_ARGUMENT *wire.Error that says why.
func ValidRoom(name string) error {
	ok := name != "" && len(name) <= MaxRoomLen && isLowerAlnum(name[0])
	for i := 0; ok && i < len(name); i++ {
		ok = isLowerAlnum(name[i]) || name[i] == '-' || name[i] == '_'
	}
	if !ok {
		return wire.Errorf(wire.InvalidArgument, "invalid room name %s: use 1 to %d characters from a-z, 0-9, '-' and '_', starting with a letter or digit", quoteShort(name, MaxRoomLen), MaxRoomLen)
	}
	return nil
}

// ValidNick reports whether nick is a valid nick: 1 to 24 characters from
// A-Z, a-z, 0-9, '-' and '_'. The error is an INVALID_ARGUMENT *wire.Error.
func ValidNick(nick string) error {
	ok := nick != "" && len(nick) <= MaxNickLen
	for i := 0; ok && i < len(nick); i++ {
		c := nick[i]
		ok = isLowerAlnum(c) || 'A' <= c && c <= 'Z' || c == '-' || c == '_'
	}
	if !ok {
		return wire.Errorf(wire.InvalidArgument, "invalid nick %s: use 1 to %d characters from A-Z, a-z, 0-9, '-' and '_'", quoteShort(nick, MaxNickLen), MaxNickLen)
	}
	return nil
}

// ValidText reports whether text can be said: valid UTF-8, not blank, no
// control characters (a message is one line) and at most max bytes. The
// error is an INVALID_ARGUMENT *wire.Error.
func ValidText(text string, max int) error {
	switch {
	case strings.TrimSpace(text) == "":
		return wire.NewError(wire.InvalidArgument, "empty message: say needs some text")
	case len(text) > max:
		return wire.Errorf(wire.InvalidArgument, "message too long: %d bytes, the limit is %d", len(text), max)
	case !utf8.ValidString(text):
		return wire.NewError(wire.InvalidArgument, "message is not valid UTF-8")
	case strings.ContainsFunc(text, isControl):
		return wire.NewError(wire.InvalidArgument, "message contains control characters: send one line at a time")
	}
	return nil
}

// quoteShort quotes a name the member sent for an error message: whole
// if it is at most max bytes long, else its first max bytes and its
// length. The status goes back in the call's trailers, so echoing a
// name of megabytes would make them too large to send at all (the
// member would get INTERNAL rather than INVALID_ARGUMENT).
func quoteShort(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// isControl reports whether r may not appear in a message: a control
// character (C0, DEL and C1, whose CSI, U+009B, starts a terminal's escape
// sequence as ESC [ does) or a line break (C0 and C1 hold all but U+2028
// and U+2029).
func isControl(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }
