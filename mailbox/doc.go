// Package mailbox provides bounded, typed, select-able queues that end with
// exactly one terminal event: the unit every parley call and actor is built on.
package mailbox
