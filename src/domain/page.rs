//! Page sizes for every list call: default 50, clamped to 500, never negative.

use super::validate::Validator;

pub const DEFAULT_PAGE_SIZE: u16 = 50;
pub const MAX_PAGE_SIZE: u16 = 500;

/// How many rows one page holds, already defaulted and clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u16);

impl PageSize {
    /// Reads `page_size`: 0 is the default, larger than the maximum is clamped, negative is a
    /// violation (recorded in `v`).
    pub fn parse(v: &mut Validator, requested: i32) -> Self {
        match requested {
            0 => Self(DEFAULT_PAGE_SIZE),
            n if n < 0 => {
                v.violation("page_size", format!("must be 0 or more, got {n}"));
                Self(DEFAULT_PAGE_SIZE)
            }
            n => Self(u16::try_from(n).map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE))),
        }
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }

    /// One row more than the page, to learn whether another page follows without a count.
    pub fn fetch_limit(self) -> i64 {
        i64::from(self.0) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_clamps_and_refuses_negative() {
        let mut v = Validator::new();
        assert_eq!(PageSize::parse(&mut v, 0).get(), 50);
        assert_eq!(PageSize::parse(&mut v, 7).get(), 7);
        assert_eq!(PageSize::parse(&mut v, 501).get(), 500);
        assert_eq!(PageSize::parse(&mut v, i32::MAX).get(), 500);
        assert!(v.finish(()).is_ok());
        let mut v = Validator::new();
        PageSize::parse(&mut v, -1);
        assert!(v.finish(()).is_err());
    }
}
