//! Decimal literal to the nearest `f64`, correctly rounded, without the standard library's
//! parser: its tables (128-bit powers of five) would add about 15 KB to the browser build,
//! more than the rest of this codec.
//!
//! Short literals (up to 15 significant digits, decimal exponent within ±22; every coordinate
//! this protocol writes) take one exact IEEE operation. Anything else starts from an estimate a
//! few units in the last place off and is corrected by comparing the literal, as a big integer,
//! with the halfway points between neighbouring `f64`s.

/// Exact powers of ten representable in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Significant digits kept. Every halfway point between two `f64`s has at most 767
/// significant digits, so digits past these only matter as "something non-zero follows",
/// which one extra `1` digit stands for.
const MAX_DIGITS: usize = 800;

/// A JSON number literal (already checked against the grammar) as the nearest `f64`
/// (infinite when out of range).
pub(super) fn parse_f64(literal: &[u8]) -> f64 {
    let (negative, body) = match literal.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, literal),
    };
    let mut digits: Vec<u8> = Vec::new();
    // The literal is `digits × 10^scale`.
    let mut scale: i64 = 0;
    let mut fraction = false;
    let mut dropped_nonzero = false;
    let mut rest = body;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'0'..=b'9' => {
                let digit = b - b'0';
                if digits.is_empty() && digit == 0 {
                    // A leading zero only moves the point.
                    scale -= i64::from(fraction);
                } else if digits.len() < MAX_DIGITS {
                    digits.push(digit);
                    scale -= i64::from(fraction);
                } else {
                    // Past the kept digits: integer digits still count for magnitude.
                    dropped_nonzero |= digit != 0;
                    scale += i64::from(!fraction);
                }
            }
            b'.' => fraction = true,
            _ => break,
        }
        rest = tail;
    }
    if let Some((_, tail)) = rest.split_first() {
        let (sign, exp_digits) = match tail.split_first() {
            Some((b'-', d)) => (-1, d),
            Some((b'+', d)) => (1, d),
            _ => (1, tail),
        };
        let mut exponent: i64 = 0;
        for &d in exp_digits {
            // Saturate: anything past ±100000 is zero or infinite all the same.
            exponent = (exponent * 10 + i64::from(d - b'0')).min(100_000);
        }
        scale += sign * exponent;
    }
    if dropped_nonzero {
        digits.push(1);
        scale -= 1;
    }
    // Trailing zeros only make the big integers bigger.
    while digits.last() == Some(&0) {
        digits.pop();
        scale += 1;
    }
    let v = magnitude(&digits, scale);
    if negative { -v } else { v }
}

/// `digits × 10^scale` (no leading or trailing zeros in `digits`) as the nearest `f64`.
fn magnitude(digits: &[u8], scale: i64) -> f64 {
    if digits.is_empty() {
        return 0.0;
    }
    let count = digits.len() as i64;
    // The value lies in [10^(count-1+scale), 10^(count+scale)).
    if count + scale > 310 {
        return f64::INFINITY;
    }
    if count + scale < -324 {
        // Below 10^-325, under half the smallest subnormal (4.9e-324): rounds to zero.
        return 0.0;
    }
    let mut mantissa: u64 = 0;
    for &d in digits.iter().take(19) {
        mantissa = mantissa * 10 + u64::from(d);
    }
    let kept = digits.len().min(19) as i64;
    let scale19 = scale + (count - kept);
    if count <= 15 && (-22..=22).contains(&scale) {
        // Exact operands, one correctly rounded operation.
        let p = POW10[scale.unsigned_abs() as usize];
        return if scale < 0 {
            mantissa as f64 / p
        } else {
            mantissa as f64 * p
        };
    }
    let guess = estimate(mantissa, scale19);
    refine(guess, digits, scale)
}

/// `mantissa × 10^scale` within a few units in the last place (one rounding per step).
fn estimate(mantissa: u64, mut scale: i64) -> f64 {
    let mut v = mantissa as f64;
    while scale > 22 && v.is_finite() {
        v *= POW10[22];
        scale -= 22;
    }
    while scale < -22 && v != 0.0 {
        v /= POW10[22];
        scale += 22;
    }
    let step = POW10[scale.unsigned_abs().min(22) as usize];
    if scale < 0 { v / step } else { v * step }
}

/// Moves `guess` one `f64` at a time until the exact value `digits × 10^scale` lies within
/// its rounding interval (ties to the even mantissa).
fn refine(guess: f64, digits: &[u8], scale: i64) -> f64 {
    use std::cmp::Ordering::{Equal, Greater, Less};

    let exact = Big::from_digits(digits);
    let mut z = if guess.is_finite() { guess } else { f64::MAX };
    loop {
        let (m, k) = decompose(z);
        // The halfway point to the next larger f64: (2m + 1) × 2^(k-1).
        match compare(&exact, scale, 2 * m + 1, k - 1) {
            Greater => {
                z = next_up(z);
                if z.is_infinite() {
                    return z;
                }
                continue;
            }
            Equal if m & 1 == 1 => return next_up(z),
            _ => {}
        }
        if m == 0 {
            return z;
        }
        // The halfway point to the next smaller f64; at a power of two (not subnormal), the
        // spacing below is half the spacing above.
        let below = if m == 1 << 52 && k > -1074 {
            compare(&exact, scale, 4 * m - 1, k - 2)
        } else {
            compare(&exact, scale, 2 * m - 1, k - 1)
        };
        match below {
            Less => z = next_down(z),
            Equal if m & 1 == 1 => return next_down(z),
            _ => return z,
        }
    }
}

/// `z` (finite, non-negative) as `m × 2^k` with an integer `m` < 2^53.
fn decompose(z: f64) -> (u64, i64) {
    let bits = z.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1 << 52) - 1);
    if exp == 0 {
        (frac, -1074)
    } else {
        (frac | 1 << 52, exp - 1075)
    }
}

fn next_up(z: f64) -> f64 {
    f64::from_bits(z.to_bits() + 1)
}

fn next_down(z: f64) -> f64 {
    f64::from_bits(z.to_bits() - 1)
}

/// `exact × 10^scale` against `m × 2^k`, both brought to integers.
fn compare(exact: &Big, scale: i64, m: u64, k: i64) -> std::cmp::Ordering {
    let mut left = exact.clone();
    let mut right = Big::from_u64(m);
    if scale >= 0 {
        left.mul_pow10(scale as u64);
    } else {
        right.mul_pow10(scale.unsigned_abs());
    }
    if k >= 0 {
        right.shl(k as u64);
    } else {
        left.shl(k.unsigned_abs());
    }
    left.cmp(&right)
}

/// An unsigned big integer, little-endian 32-bit limbs, no high zero limbs. Just enough for
/// [`compare`]: the operands stay under about 7 000 bits given the range checks above.
#[derive(Clone, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(n: u64) -> Self {
        let mut b = Big(vec![n as u32, (n >> 32) as u32]);
        b.trim();
        b
    }

    fn from_digits(digits: &[u8]) -> Self {
        let mut b = Big(Vec::new());
        // Nine digits at a time: 10^9 fits a limb.
        for chunk in digits.chunks(9) {
            let mut part = 0u32;
            for &d in chunk {
                part = part * 10 + u32::from(d);
            }
            b.mul_add(10u32.pow(chunk.len() as u32), part);
        }
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// `self × factor + add`.
    fn mul_add(&mut self, factor: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let x = u64::from(*limb) * u64::from(factor) + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u64) {
        // 10^n = 5^n × 2^n; 5^13 is the largest power of five in a limb.
        let twos = n;
        while n >= 13 {
            self.mul_add(1_220_703_125, 0);
            n -= 13;
        }
        self.mul_add(5u32.pow(n as u32), 0);
        self.shl(twos);
    }

    fn shl(&mut self, n: u64) {
        if self.0.is_empty() {
            return;
        }
        let limbs = (n / 32) as usize;
        let bits = (n % 32) as u32;
        if bits != 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let next = *limb >> (32 - bits);
                *limb = (*limb << bits) | carry;
                carry = next;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        if limbs > 0 {
            // Not `splice`: its drop guard is several times this code in the browser build.
            let mut shifted = vec![0; limbs];
            shifted.extend_from_slice(&self.0);
            self.0 = shifted;
        }
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}
