//! Per-key queues: records with the same key run one after another, in the order they were
//! admitted; records with different keys run concurrently.
//!
//! Guarantees: at most one job per key is running (handed out and not yet followed by
//! [`KeyQueues::next`]); jobs of one key are handed out in admission order. Not guaranteed:
//! fairness between keys, or any bound on a key's queue (the caller bounds admissions).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

/// Queues of waiting jobs, one per busy key.
#[derive(Debug)]
pub struct KeyQueues<K, J> {
    busy: Mutex<HashMap<K, VecDeque<J>>>,
}

impl<K: Eq + Hash + Clone, J> Default for KeyQueues<K, J> {
    fn default() -> Self {
        Self {
            busy: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, J> KeyQueues<K, J> {
    /// No busy keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits `job`: returns it if its key was idle (run it now, then call [`Self::next`]),
    /// or queues it behind the key's running job and returns `None`.
    pub fn admit(&self, key: K, job: J) -> Option<J> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        match busy.get_mut(&key) {
            Some(queue) => {
                queue.push_back(job);
                None
            }
            None => {
                busy.insert(key, VecDeque::new());
                Some(job)
            }
        }
    }

    /// The running job of `key` is done: returns the key's next job (run it now), or marks the
    /// key idle and returns `None`.
    pub fn next(&self, key: &K) -> Option<J> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let queue = busy.get_mut(key)?;
        match queue.pop_front() {
            Some(job) => Some(job),
            None => {
                busy.remove(key);
                None
            }
        }
    }

    #[cfg(test)]
    /// Keys with a running job.
    pub fn busy_keys(&self) -> usize {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_running_job_per_key_in_admission_order() {
        let queues = KeyQueues::new();
        assert_eq!(queues.admit("a", 1), Some(1));
        assert_eq!(queues.admit("a", 2), None);
        assert_eq!(queues.admit("b", 3), Some(3), "other keys run concurrently");
        assert_eq!(queues.admit("a", 4), None);
        assert_eq!(queues.next(&"a"), Some(2));
        assert_eq!(queues.next(&"a"), Some(4));
        assert_eq!(queues.next(&"a"), None);
        assert_eq!(queues.busy_keys(), 1);
        assert_eq!(queues.admit("a", 5), Some(5), "idle again");
    }
}
