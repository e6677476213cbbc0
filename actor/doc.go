// Package actor runs long-lived goroutines that own their state, handle one message at a time from a bounded mailbox, are restarted by a supervisor within a restart budget, and compose with parley conversations through mailbox.Sender and mailbox.Receiver.
package actor
