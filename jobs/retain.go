package jobs

import "time"

// expiry is a slot or a user state that may be let go of at a time, unless it has been used
// again since (its gen has moved on).
type expiry struct {
	at   time.Time
	slot *slot
	user *userState
	gen  uint64
}

// ended does the bookkeeping of a follow whose goroutine is done: its user's turn goes to the
// next prompt, and the object, if f is still its current follow, is let go of after Retain.
func (m *Manager) ended(f *follow) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Clock.Now()
	f.ended = true
	if u := f.user; u != nil {
		m.release(f)
		if u.idle() {
			u.gen++
			m.retire = append(m.retire, expiry{at: now.Add(m.opts.Retain), user: u, gen: u.gen})
		}
	}
	if s := f.slot; s.current == f {
		m.retire = append(m.retire, expiry{at: now.Add(m.opts.Retain), slot: s, gen: s.gen})
	}
	m.sweep(now)
}

// sweep lets go of what has expired by now. Both queues are in time order, since every entry
// is due a fixed span after it was added, so each sweep costs only what it frees (and the
// entries gone out of date). It runs whenever the Manager is used: memory grows only by use,
// and then it is tidied.
func (m *Manager) sweep(now time.Time) {
	for len(m.retire) > 0 && !now.Before(m.retire[0].at) {
		e := m.retire[0]
		m.retire[0] = expiry{}
		m.retire = m.retire[1:]
		if u := e.user; u != nil {
			if m.users[u.key] != u || u.gen != e.gen || !u.idle() {
				continue
			}
			if u.lim != nil && u.lim.TokensAt(now) < float64(u.lim.Burst()) {
				// Forgetting the user now would hand them a full bucket early.
				m.retire = append(m.retire, expiry{at: now.Add(m.opts.Retain), user: u, gen: u.gen})
				continue
			}
			delete(m.users, u.key)
			continue
		}
		s := e.slot
		if s.gen != e.gen || s.current == nil || !s.current.ended {
			continue
		}
		s.current, s.latest, s.hasLatest = nil, Event{}, false
		m.forget = append(m.forget, expiry{at: now.Add(m.opts.Forget), slot: s, gen: s.gen})
	}
	for len(m.forget) > 0 && !now.Before(m.forget[0].at) {
		e := m.forget[0]
		m.forget[0] = expiry{}
		m.forget = m.forget[1:]
		s := e.slot
		if s.gen != e.gen || s.current != nil {
			continue
		}
		if s.delivering {
			// Its last event is still in the Publisher's hands: a new slot for the object
			// could overtake it. Try again later.
			m.forget = append(m.forget, expiry{at: now.Add(m.opts.Forget), slot: s, gen: s.gen})
			continue
		}
		if objects := m.rooms[s.room]; objects[s.objectID] == s {
			delete(objects, s.objectID)
			if len(objects) == 0 {
				delete(m.rooms, s.room)
			}
		}
	}
}
