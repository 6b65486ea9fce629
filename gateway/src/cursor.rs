//! One socket's place in its user's event sequence, so that what it delivers has no duplicate
//! and no gap.
//!
//! Live events normally go straight out. One whose number is not the next means the gateway
//! missed some (its queue was cut with the broker connection, or two overtook each other): it is
//! held, and the ones before it are fetched from the journal first. While a client's
//! `events.resume` is answered, live events are held too, and those the answer already carries
//! are dropped when they are released.

use axum::extract::ws::Utf8Bytes;
use warren_bus::journal::Numbered;

#[derive(Debug, Default)]
pub struct Cursor {
    /// The lowest and highest numbers this socket has delivered; everything between too.
    sent: Option<(u64, u64)>,
    /// The user's last number when the socket opened: events after it are this socket's to
    /// deliver; those up to it came before the socket (a resume may still ask for them), even
    /// if they reach this gateway late.
    start: Option<u64>,
    /// Live events waiting for a fill or a resume to finish, as (number, frame); the frame is
    /// shared with the other sockets it went to, not a copy.
    held: Option<Vec<(u64, Utf8Bytes)>>,
}

/// What to do with a live event.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Send it now.
    Send,
    /// Delivered already, or held until the journal answers.
    Skip,
    /// Held: fetch the events after this number from the journal first.
    Fill { after: u64 },
}

/// What a fill or a resume releases, in the order it goes out.
#[derive(Debug, Default)]
pub struct Released {
    /// Events from the journal this socket had not delivered.
    pub fresh: Vec<Numbered>,
    /// The highest number delivered once `fresh` is out.
    pub last: Option<u64>,
    /// Live events held meanwhile and not in `fresh`, to follow it.
    pub held: Vec<Utf8Bytes>,
}

impl Cursor {
    /// The number after which this socket delivers every event.
    pub fn last(&self) -> Option<u64> {
        self.sent.map(|(_, last)| last).or(self.start)
    }

    /// Sets where a new socket starts, unless it has delivered an event already.
    pub fn start_at(&mut self, head: u64) {
        if self.sent.is_none() {
            self.start = Some(head);
        }
    }

    fn delivered(&self, seq: u64) -> bool {
        self.sent
            .is_some_and(|(first, last)| (first..=last).contains(&seq))
    }

    fn mark(&mut self, seq: u64) {
        self.sent = Some(match self.sent {
            None => (seq, seq),
            Some((first, last)) => (first.min(seq), last.max(seq)),
        });
    }

    /// A live event numbered `seq`, as `frame`.
    pub fn offer(&mut self, seq: u64, frame: &Utf8Bytes) -> Offer {
        if let Some(held) = &mut self.held {
            held.push((seq, frame.clone()));
            return Offer::Skip;
        }
        match self.last() {
            Some(last) if seq <= last => Offer::Skip,
            Some(last) if seq > last + 1 => {
                self.held = Some(vec![(seq, frame.clone())]);
                Offer::Fill { after: last }
            }
            _ => {
                self.mark(seq);
                Offer::Send
            }
        }
    }

    /// Holds live events from now until [`Cursor::release`].
    pub fn hold(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// Ends holding with what the journal had (`from_journal`, in order): returns what of it
    /// this socket has not delivered, then the held events that come after it.
    pub fn release(&mut self, from_journal: Vec<Numbered>) -> Released {
        let fresh: Vec<Numbered> = from_journal
            .into_iter()
            .filter(|event| !self.delivered(event.seq))
            .collect();
        for event in &fresh {
            self.mark(event.seq);
        }
        let last = self.last();
        let mut held = self.held.take().unwrap_or_default();
        held.sort_by_key(|(seq, _)| *seq);
        held.dedup_by_key(|(seq, _)| *seq);
        let held = held
            .into_iter()
            .filter(|(seq, _)| last.is_none_or(|last| *seq > last))
            .map(|(seq, frame)| {
                self.mark(seq);
                frame
            })
            .collect();
        Released { fresh, last, held }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(seqs: impl IntoIterator<Item = u64>) -> Vec<Numbered> {
        seqs.into_iter()
            .map(|seq| Numbered {
                seq,
                kind: "x".into(),
                data: serde_json::Value::Null,
            })
            .collect()
    }

    fn seqs(events: &[Numbered]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn live_events_go_out_once_and_a_jump_asks_for_a_fill() {
        let mut cursor = Cursor::default();
        assert_eq!(
            cursor.offer(5, &"5".into()),
            Offer::Send,
            "the first one sets the start"
        );
        assert_eq!(cursor.offer(6, &"6".into()), Offer::Send);
        assert_eq!(cursor.offer(6, &"6".into()), Offer::Skip, "a duplicate");
        assert_eq!(cursor.offer(9, &"9".into()), Offer::Fill { after: 6 });
        assert_eq!(
            cursor.offer(10, &"10".into()),
            Offer::Skip,
            "held behind the fill"
        );
        let released = cursor.release(numbered(7..=9));
        assert_eq!(seqs(&released.fresh), vec![7, 8, 9]);
        assert_eq!(released.last, Some(9));
        assert_eq!(
            released.held,
            vec![Utf8Bytes::from("10")],
            "9 came from the journal"
        );
        assert_eq!(cursor.offer(11, &"11".into()), Offer::Send);
    }

    #[test]
    fn a_resume_skips_what_the_socket_delivered_and_what_it_answers() {
        let mut cursor = Cursor::default();
        assert_eq!(
            cursor.offer(8, &"8".into()),
            Offer::Send,
            "live before the resume"
        );
        cursor.hold();
        assert_eq!(cursor.offer(10, &"10".into()), Offer::Skip);
        assert_eq!(cursor.offer(11, &"11".into()), Offer::Skip);
        let released = cursor.release(numbered(6..=10));
        assert_eq!(seqs(&released.fresh), vec![6, 7, 9, 10]);
        assert_eq!(released.last, Some(10));
        assert_eq!(released.held, vec![Utf8Bytes::from("11")]);
        assert_eq!(cursor.offer(9, &"9".into()), Offer::Skip);
        assert_eq!(cursor.offer(12, &"12".into()), Offer::Send);
    }

    #[test]
    fn a_socket_that_knows_where_it_starts_fills_a_first_gap() {
        let mut cursor = Cursor::default();
        cursor.start_at(4);
        assert_eq!(cursor.offer(6, &"6".into()), Offer::Fill { after: 4 });
        let released = cursor.release(numbered(3..=6));
        assert_eq!(
            seqs(&released.fresh),
            vec![3, 4, 5, 6],
            "a resume may ask for 3 and 4"
        );
        let mut started = Cursor::default();
        assert_eq!(started.offer(7, &"7".into()), Offer::Send);
        started.start_at(5);
        assert_eq!(started.last(), Some(7), "what it delivered counts");
    }

    #[test]
    fn a_release_with_nothing_from_the_journal_lets_the_held_go_in_order() {
        let mut cursor = Cursor::default();
        cursor.offer(1, &"1".into());
        assert_eq!(cursor.offer(4, &"4".into()), Offer::Fill { after: 1 });
        cursor.offer(3, &"3".into());
        cursor.offer(4, &"4".into());
        let released = cursor.release(Vec::new());
        assert!(released.fresh.is_empty());
        assert_eq!(
            released.held,
            vec![Utf8Bytes::from("3"), Utf8Bytes::from("4")]
        );
        assert_eq!(cursor.last(), Some(4));
    }
}
