package jobs

// Counts is what a Manager holds, for tests that check it lets go of ended jobs.
type Counts struct {
	Objects    int // objects with a job followed or an event kept
	Tombstones int // freed objects whose last version is still known
	Users      int // users whose limits are tracked
}

// Tracked counts what m holds.
func Tracked(m *Manager) Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := Counts{Users: len(m.users)}
	for _, objects := range m.rooms {
		for _, s := range objects {
			if s.current == nil {
				c.Tombstones++
			} else {
				c.Objects++
			}
		}
	}
	return c
}
