//! Word lists for synthetic but plausible names. Place names are built from
//! parts and made unique across the whole data set, so every name identifies
//! one member of the hierarchy.

use std::collections::HashSet;

use super::rng::{Stream, below};

const PLACE_ROOTS: [&str; 48] = [
    "Ash", "Bell", "Cedar", "Clear", "Fair", "Glen", "Green", "High", "Lake", "Maple", "Mill",
    "Oak", "Pine", "River", "Rock", "Silver", "Spring", "Stone", "Sun", "West", "North", "East",
    "South", "Brook", "Wood", "Elm", "Fox", "Red", "Rose", "Iron", "Gold", "Hazel", "Kings",
    "Queens", "Salt", "Sand", "Thorn", "Willow", "Amber", "Bright", "Crystal", "Deer", "Eagle",
    "Falcon", "Harbor", "Ivy", "Juniper", "Linden",
];
const PLACE_SUFFIXES: [&str; 24] = [
    "ford", "field", "ton", "ville", "wood", "dale", "port", "bury", "haven", "view", "ridge",
    "mont", "stead", "worth", "side", "gate", "crest", "moor", "wick", "by", "burgh", "holm",
    "mouth", "well",
];
const CITY_PREFIXES: [&str; 8] = ["", "", "", "New ", "Port ", "Mount ", "Fort ", "Lake "];
const STATE_SUFFIXES: [&str; 6] = ["", "", " Province", " County", " Valley", " Coast"];

/// Draws unique names from a generator function.
pub struct UniqueNames {
    seen: HashSet<String>,
}

impl UniqueNames {
    pub fn new() -> Self {
        UniqueNames {
            seen: HashSet::new(),
        }
    }

    /// Draws candidates from `stream` until one is new. The k-th attempt adds a
    /// numeral so the loop always ends.
    fn draw(&mut self, stream: Stream, make: impl Fn(u64) -> String) -> String {
        for attempt in 0..64u64 {
            let mut name = make(stream.at(attempt));
            if attempt >= 32 {
                name = format!("{name} {}", attempt - 31);
            }
            if self.seen.insert(name.clone()) {
                return name;
            }
        }
        unreachable!("64 attempts always include a numbered, unseen name")
    }

    pub fn city(&mut self, stream: Stream) -> String {
        self.draw(stream, |b| {
            format!(
                "{}{}{}",
                CITY_PREFIXES[below(b >> 40, CITY_PREFIXES.len() as u32) as usize],
                PLACE_ROOTS[below(b, PLACE_ROOTS.len() as u32) as usize],
                PLACE_SUFFIXES[below(b >> 20, PLACE_SUFFIXES.len() as u32) as usize],
            )
        })
    }

    pub fn state(&mut self, stream: Stream) -> String {
        self.draw(stream, |b| {
            let root = PLACE_ROOTS[below(b, PLACE_ROOTS.len() as u32) as usize];
            let suffix = PLACE_SUFFIXES[below(b >> 20, PLACE_SUFFIXES.len() as u32) as usize];
            let kind = STATE_SUFFIXES[below(b >> 40, STATE_SUFFIXES.len() as u32) as usize];
            let mut s = format!("{root}{suffix}{kind}");
            // "Westford" as a state reads like a city; "Westfordia" reads like a state.
            if kind.is_empty() {
                s.push_str("ia");
            }
            s
        })
    }
}

impl Default for UniqueNames {
    fn default() -> Self {
        Self::new()
    }
}

pub const ADJECTIVES: [&str; 24] = [
    "Classic",
    "Pro",
    "Ultra",
    "Essential",
    "Premium",
    "Eco",
    "Smart",
    "Compact",
    "Deluxe",
    "Everyday",
    "Signature",
    "Active",
    "Original",
    "Select",
    "Prime",
    "Max",
    "Lite",
    "Urban",
    "Heritage",
    "Fresh",
    "Studio",
    "Advanced",
    "Natural",
    "Elite",
];

pub const BRAND_PARTS_A: [&str; 20] = [
    "Nor", "Vel", "Astra", "Bright", "Cor", "Lum", "Zen", "Terra", "Nova", "Kin", "Oro", "Pax",
    "Quill", "Ryn", "Sol", "Tal", "Umbra", "Vira", "Wex", "Yara",
];
pub const BRAND_PARTS_B: [&str; 16] = [
    "vik", "ora", "line", "crest", "field", "ex", "wave", "mark", "is", "on", "ium", "co", "ly",
    "forge", "wood", "peak",
];
