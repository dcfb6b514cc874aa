//! A buffer kept from one call to the next: `value_and_grad`'s state tape (A: 600 KB). Allocated
//! and zeroed at every call, it had cost A's gradient ≈ 2% in `memset` and the allocator's
//! bookkeeping for a buffer the forward pass overwrites whole.

use std::sync::{Mutex, MutexGuard};

use super::JitReal;

/// One buffer, handed out to one call at a time (a concurrent call allocates its own).
#[derive(Debug)]
pub(super) struct Kept<T> {
    buffer: Mutex<Vec<T>>,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept { buffer: Mutex::new(Vec::new()) }
    }
}

impl<T: JitReal> Kept<T> {
    /// The kept buffer (a call that panicked while holding it left a valid `Vec`).
    fn buffer(&self) -> MutexGuard<'_, Vec<T>> {
        self.buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A buffer of `len` elements: the kept one, holding what the last call left in it, if
    /// there is one (the caller overwrites every element it reads), else zeros. A kept buffer
    /// more than twice as large is released first.
    pub fn take(&self, len: usize) -> Vec<T> {
        let mut buffer = std::mem::take(&mut *self.buffer());
        if buffer.capacity() > 2 * len {
            buffer = Vec::new();
        }
        buffer.resize(len, T::zero());
        buffer
    }

    /// Bytes of the buffer kept now (memory the network holds between calls).
    pub fn bytes(&self) -> usize {
        self.buffer().capacity() * std::mem::size_of::<T>()
    }

    /// Keeps `buffer` for the next call.
    pub fn keep(&self, buffer: Vec<T>) {
        *self.buffer() = buffer;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_is_handed_out_again_at_the_length_asked() {
        let kept: Kept<f32> = Kept::default();
        assert_eq!(kept.take(3), vec![0.0; 3]);
        kept.keep(vec![1.0, 2.0, 3.0, 4.0]);
        // The same allocation, cut to length, its old contents left for the caller to overwrite.
        assert_eq!(kept.bytes(), 4 * 4);
        assert_eq!(kept.take(3), vec![1.0, 2.0, 3.0]);
        assert_eq!(kept.bytes(), 0);
        // Taken: the next call gets a new one.
        assert_eq!(kept.take(2), vec![0.0; 2]);
        kept.keep(vec![5.0; 2]);
        // Longer than kept: the new elements are zeros.
        assert_eq!(kept.take(4), vec![5.0, 5.0, 0.0, 0.0]);
        // Much shorter than kept: released.
        kept.keep(vec![7.0; 100]);
        let small = kept.take(10);
        assert_eq!(small, vec![0.0; 10]);
        assert!(small.capacity() < 100);
    }
}
