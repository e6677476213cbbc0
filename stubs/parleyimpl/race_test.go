//go:build race

package parleyimpl_test

func init() { raceEnabled = true }
