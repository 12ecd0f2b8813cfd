//! Finds bytes from a small set in a byte string: the part of memchr-n's API comrak calls
//! (`MemchrN::new`, `find`, `iter`, `Iter::advance_to`), as a plain loop over a 256-entry
//! table. Markdown answers are a few KiB, so a vectorised scan saves nothing noticeable in the
//! widget while its code costs ~13 KB of wasm.

/// A set of bytes to search for.
#[derive(Clone)]
pub struct MemchrN {
    wanted: [bool; 256],
}

impl core::fmt::Debug for MemchrN {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MemchrN")
    }
}

impl MemchrN {
    /// Searches for any of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut wanted = [false; 256];
        for &byte in bytes {
            wanted[byte as usize] = true;
        }
        MemchrN { wanted }
    }

    /// The index of the first wanted byte in `haystack`.
    pub fn find(&self, haystack: &[u8]) -> Option<usize> {
        haystack.iter().position(|&byte| self.wanted[byte as usize])
    }

    /// The indexes of all wanted bytes in `haystack`, in order.
    pub fn iter<'a>(&'a self, haystack: &'a [u8]) -> Iter<'a> {
        Iter {
            finder: self,
            haystack,
            position: 0,
        }
    }
}

/// The matches of a [`MemchrN`] in one haystack, in increasing order.
#[derive(Debug)]
pub struct Iter<'a> {
    finder: &'a MemchrN,
    haystack: &'a [u8],
    /// Where the next search starts.
    position: usize,
}

impl Iter<'_> {
    /// Skips matches before `index`. Moving backwards does nothing: matches come in order.
    pub fn advance_to(&mut self, index: usize) {
        self.position = self.position.max(index.min(self.haystack.len()));
    }
}

impl Iterator for Iter<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let found = self.position + self.finder.find(&self.haystack[self.position..])?;
        self.position = found + 1;
        Some(found)
    }
}

impl core::iter::FusedIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::MemchrN;

    #[test]
    fn finds_every_wanted_byte_in_order() {
        let vowels = MemchrN::new(b"aeiou");
        assert_eq!(vowels.find(b"xyz"), None);
        assert_eq!(vowels.find(b"hello"), Some(1));
        assert_eq!(vowels.iter(b"hello world").collect::<Vec<_>>(), [1, 4, 7]);
    }

    #[test]
    fn advance_to_skips_forward_only() {
        let vowels = MemchrN::new(b"aeiou");
        let mut matches = vowels.iter(b"hello world");
        assert_eq!(matches.next(), Some(1));
        matches.advance_to(4);
        assert_eq!(matches.next(), Some(4));
        matches.advance_to(1);
        assert_eq!(matches.next(), Some(7));
        matches.advance_to(100);
        assert_eq!(matches.next(), None);
    }
}
