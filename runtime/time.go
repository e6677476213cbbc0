package runtime

import "time"

func timeUntil(t time.Time) time.Duration { return time.Until(t) }
