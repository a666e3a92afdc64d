//! `bitReference`: our id for a ledger entry, 26 uppercase characters — a ULID (48-bit
//! millisecond time, then 80 random bits, in Crockford's base 32), so references sort by time.

use rand::RngCore;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BitReference(String);

impl BitReference {
    pub fn new(now_ms: i64) -> BitReference {
        let mut random = [0u8; 10];
        rand::thread_rng().fill_bytes(&mut random);
        let mut value: u128 = (u128::from(now_ms as u64 & 0xFFFF_FFFF_FFFF)) << 80;
        for (i, b) in random.iter().enumerate() {
            value |= u128::from(*b) << (8 * (9 - i));
        }
        let text = (0..26).rev().map(|i| CROCKFORD[((value >> (5 * i)) & 31) as usize] as char).collect();
        BitReference(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_six_uppercase_characters_that_sort_by_time() {
        let a = BitReference::new(1_763_800_000_000);
        let b = BitReference::new(1_763_800_000_001);
        assert_eq!(a.as_str().len(), 26);
        assert!(a.as_str().bytes().all(|c| CROCKFORD.contains(&c)));
        assert!(a.as_str() < b.as_str());
        // The time part, computed independently:
        // python3 -c "C='0123456789ABCDEFGHJKMNPQRSTVWXYZ'; v=1763800000000<<80; print(''.join(C[(v>>(5*i))&31] for i in range(25,15,-1)))"
        assert_eq!(&a.as_str()[..10], "01KANAR9G0");
        assert_ne!(BitReference::new(1).as_str(), BitReference::new(1).as_str(), "random part");
    }
}
