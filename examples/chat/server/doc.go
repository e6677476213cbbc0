// Package server is the chat example's server: one actor per room, one
// full-duplex conversation per connected member, composed through bounded
// per-member queues so that no member can stall a room.
package server
