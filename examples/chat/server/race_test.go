//go:build race

package server_test

// raceEnabled reports a -race build, which runs the heaviest tests smaller.
const raceEnabled = true
