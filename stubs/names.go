package stubs

import (
	"go/token"
	"path"
	"strings"
	"unicode"
)

// goCamelCase converts a proto identifier to a Go identifier the way
// protoc-gen-go does: "response_size" becomes "ResponseSize", a leading
// underscore becomes "X", and digits start a new word.
func goCamelCase(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && i+1 < len(s) && isASCIILower(s[i+1]):
			// Skip over '.' in ".{{lowercase}}".
		case c == '.':
			b = append(b, '_')
		case c == '_' && (i == 0 || s[i-1] == '.'):
			b = append(b, 'X')
		case c == '_' && i+1 < len(s) && isASCIILower(s[i+1]):
			// Skip over '_' in "_{{lowercase}}".
		case isASCIIDigit(c):
			b = append(b, c)
		default:
			if isASCIILower(c) {
				c -= 'a' - 'A'
			}
			b = append(b, c)
			for ; i+1 < len(s) && isASCIILower(s[i+1]); i++ {
				b = append(b, s[i+1])
			}
		}
	}
	return string(b)
}

func isASCIILower(c byte) bool { return 'a' <= c && c <= 'z' }
func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }

// goPackageOf splits a go_package option into an import path (possibly
// empty) and a package name, following protoc-gen-go:
// "example.com/foo/bar;barpb" gives ("example.com/foo/bar", "barpb"),
// "example.com/foo/bar" gives ("example.com/foo/bar", "bar").
// An empty name after ";" counts as none, as in protoc-gen-go:
// "example.com/foo;" gives ("example.com/foo", "foo").
// Without the option (or with ";" alone) the name comes from the last
// element of the proto package, or failing that from the file name.
func goPackageOf(goPackage, protoPackage, fileName string) (importPath, name string) {
	importPath, name, _ = strings.Cut(goPackage, ";")
	if name == "" && importPath != "" {
		name = path.Base(importPath)
	}
	if name != "" {
		return importPath, cleanPackageName(name)
	}
	if protoPackage != "" {
		if i := strings.LastIndexByte(protoPackage, '.'); i >= 0 {
			protoPackage = protoPackage[i+1:]
		}
		return "", cleanPackageName(protoPackage)
	}
	return "", cleanPackageName(strings.TrimSuffix(path.Base(fileName), ".proto"))
}

// cleanPackageName turns s into a valid Go package name.
func cleanPackageName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name == "" || isASCIIDigit(name[0]) {
		name = "_" + name
	}
	// A keyword cannot name a package, nor can the blank identifier.
	if token.IsKeyword(name) || name == "_" {
		name += "_"
	}
	return name
}
