// Package afterfunc keeps the funcs that a context of parley's own calls
// when it ends, registered through its AfterFunc method.
package afterfunc
