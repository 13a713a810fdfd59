//! `dim_geography`: a strict region > country > state > city hierarchy.
//!
//! Regions and countries are real; state and city names are synthetic and
//! unique across the data set. Each country carries an inner bounding box
//! (a rectangle inside its borders); states get a centre inside the box and
//! cities scatter around their state's centre, clamped to the box, so every
//! coordinate lies inside its country's box.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};

use super::names::UniqueNames;
use super::rng::{Stream, below, unit};
use crate::model::{REGIONS, Table};

/// A country: region, name, ISO code, inner box (lat, lon) and market weight.
#[derive(Debug, Clone, Copy)]
pub struct Country {
    pub region: &'static str,
    pub name: &'static str,
    pub code: &'static str,
    pub lat: (f64, f64),
    pub lon: (f64, f64),
    pub weight: f64,
}

const fn c(
    region: &'static str,
    name: &'static str,
    code: &'static str,
    lat: (f64, f64),
    lon: (f64, f64),
    weight: f64,
) -> Country {
    Country {
        region,
        name,
        code,
        lat,
        lon,
        weight,
    }
}

const NA: &str = REGIONS[0];
const EU: &str = REGIONS[1];
const AP: &str = REGIONS[2];
const LA: &str = REGIONS[3];
const ME: &str = REGIONS[4];

/// The countries, grouped by region. Weights are market sizes (share of sales).
pub const COUNTRIES: [Country; 28] = [
    c(
        NA,
        "United States",
        "US",
        (33.0, 45.0),
        (-117.0, -82.0),
        30.0,
    ),
    c(NA, "Canada", "CA", (45.0, 53.0), (-120.0, -75.0), 5.0),
    c(NA, "Mexico", "MX", (17.0, 27.0), (-105.0, -97.0), 4.0),
    c(EU, "United Kingdom", "GB", (51.0, 54.5), (-2.8, 0.0), 5.5),
    c(EU, "Germany", "DE", (48.0, 53.5), (7.0, 13.5), 6.5),
    c(EU, "France", "FR", (44.0, 48.5), (0.0, 5.5), 5.0),
    c(EU, "Spain", "ES", (37.5, 42.5), (-6.0, -1.0), 3.0),
    c(EU, "Italy", "IT", (41.5, 45.5), (10.0, 13.5), 3.0),
    c(EU, "Netherlands", "NL", (51.6, 53.0), (4.7, 6.8), 1.8),
    c(EU, "Sweden", "SE", (56.5, 63.0), (13.0, 17.5), 1.2),
    c(EU, "Poland", "PL", (50.5, 53.5), (15.5, 23.0), 1.6),
    c(AP, "Japan", "JP", (34.0, 39.5), (133.0, 140.0), 6.0),
    c(AP, "China", "CN", (25.0, 40.0), (103.0, 118.0), 8.0),
    c(AP, "India", "IN", (13.0, 26.0), (74.0, 86.0), 4.0),
    c(AP, "Australia", "AU", (-35.0, -20.0), (117.0, 150.0), 2.5),
    c(AP, "South Korea", "KR", (35.0, 37.5), (126.8, 129.0), 2.2),
    c(AP, "Singapore", "SG", (1.30, 1.42), (103.70, 103.95), 0.8),
    c(LA, "Brazil", "BR", (-25.0, -5.0), (-55.0, -40.0), 3.2),
    c(LA, "Argentina", "AR", (-38.0, -25.0), (-67.0, -60.0), 1.2),
    c(LA, "Chile", "CL", (-38.0, -27.0), (-72.0, -70.5), 0.7),
    c(LA, "Colombia", "CO", (2.0, 9.0), (-76.0, -72.5), 0.9),
    c(
        ME,
        "United Arab Emirates",
        "AE",
        (23.5, 25.0),
        (54.0, 55.8),
        0.9,
    ),
    c(ME, "Saudi Arabia", "SA", (19.0, 28.0), (40.0, 50.0), 1.1),
    c(ME, "South Africa", "ZA", (-33.0, -25.0), (20.0, 30.0), 1.0),
    c(ME, "Nigeria", "NG", (7.0, 12.0), (4.0, 12.0), 0.8),
    c(ME, "Egypt", "EG", (24.0, 30.0), (29.0, 32.5), 0.8),
    c(ME, "Kenya", "KE", (-3.0, 3.0), (35.0, 40.0), 0.4),
    c(ME, "Israel", "IL", (31.0, 32.8), (34.8, 35.4), 0.6),
];

pub use crate::model::DEFAULT_CITIES;

#[derive(Debug, Clone)]
pub struct City {
    pub country: usize,
    pub state: Arc<str>,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// Share of the country's sales: a Zipf curve over the country's cities.
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct Geography {
    /// Ordered by (region, country, state): geo_key = index + 1.
    pub cities: Vec<City>,
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Geography {
    pub fn new(seed: u64, n_cities: u32) -> Geography {
        let total_w: f64 = COUNTRIES.iter().map(|c| c.weight).sum();
        // Cities per country: proportional to sqrt(weight) (big markets have more
        // cities, small ones still several), at least 4, summing exactly to n.
        let raw: Vec<f64> = COUNTRIES.iter().map(|c| c.weight.sqrt()).collect();
        let raw_total: f64 = raw.iter().sum();
        let n = n_cities.max(4 * COUNTRIES.len() as u32) as usize;
        let spare = n - 4 * COUNTRIES.len();
        let mut counts: Vec<usize> = raw
            .iter()
            .map(|r| 4 + (r / raw_total * spare as f64) as usize)
            .collect();
        let mut i = 0;
        let len = counts.len();
        while counts.iter().sum::<usize>() < n {
            counts[i % len] += 1;
            i += 1;
        }

        let stream = Stream::new(seed, "dim_geography");
        let mut names = UniqueNames::new();
        let mut cities = Vec::with_capacity(n);
        for (ci, country) in COUNTRIES.iter().enumerate() {
            let n_c = counts[ci];
            let n_states = (n_c / 12).clamp(2, 40);
            let cs = stream.sub(ci as u64);
            let (lat0, lat1) = country.lat;
            let (lon0, lon1) = country.lon;
            let states: Vec<(Arc<str>, f64, f64)> = (0..n_states as u64)
                .map(|s| {
                    let ss = cs.sub(s);
                    let name: Arc<str> = names.state(ss.sub(0)).into();
                    let lat = lat0 + (lat1 - lat0) * (0.1 + 0.8 * unit(ss.at(1)));
                    let lon = lon0 + (lon1 - lon0) * (0.1 + 0.8 * unit(ss.at(2)));
                    (name, lat, lon)
                })
                .collect();
            let mut country_cities: Vec<City> = (0..n_c as u64)
                .map(|k| {
                    let ks = cs.sub(1_000 + k);
                    let (state, slat, slon) = &states[below(ks.at(0), n_states as u32) as usize];
                    let spread_lat = (lat1 - lat0) * 0.1;
                    let spread_lon = (lon1 - lon0) * 0.1;
                    let lat = (slat + spread_lat * (2.0 * unit(ks.at(1)) - 1.0)).clamp(lat0, lat1);
                    let lon = (slon + spread_lon * (2.0 * unit(ks.at(2)) - 1.0)).clamp(lon0, lon1);
                    City {
                        country: ci,
                        state: state.clone(),
                        name: names.city(ks.sub(3)),
                        lat: round6(lat),
                        lon: round6(lon),
                        weight: 0.0,
                    }
                })
                .collect();
            // Zipf over a seeded order of the country's cities: a few big cities.
            let zipf: Vec<f64> = (0..n_c).map(|r| 1.0 / (r as f64 + 1.0).powf(0.9)).collect();
            let zipf_total: f64 = zipf.iter().sum();
            let mut order: Vec<usize> = (0..n_c).collect();
            for j in (1..n_c).rev() {
                order.swap(j, below(cs.at(10_000 + j as u64), j as u32 + 1) as usize);
            }
            for (rank, &idx) in order.iter().enumerate() {
                country_cities[idx].weight = country.weight / total_w * zipf[rank] / zipf_total;
            }
            // Keys follow the hierarchy: sorted by state within the country.
            country_cities.sort_by(|a, b| a.state.cmp(&b.state).then(a.name.cmp(&b.name)));
            cities.extend(country_cities);
        }
        Geography { cities }
    }

    pub fn len(&self) -> usize {
        self.cities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cities.is_empty()
    }

    pub fn batch(&self) -> RecordBatch {
        let col = |f: &dyn Fn(&City) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(self.cities.iter().map(f)))
        };
        RecordBatch::try_new(
            Table::DimGeography.schema(),
            vec![
                Arc::new(Int32Array::from_iter_values(1..=self.cities.len() as i32)),
                col(&|c| COUNTRIES[c.country].region),
                col(&|c| COUNTRIES[c.country].name),
                col(&|c| COUNTRIES[c.country].code),
                col(&|c| &c.state),
                col(&|c| &c.name),
                Arc::new(Float64Array::from_iter_values(
                    self.cities.iter().map(|c| c.lat),
                )),
                Arc::new(Float64Array::from_iter_values(
                    self.cities.iter().map(|c| c.lon),
                )),
            ],
        )
        .expect("dim_geography batch matches its schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn hierarchy_is_strict_and_coordinates_inside_country_box() {
        let g = Geography::new(42, DEFAULT_CITIES);
        assert_eq!(g.len(), DEFAULT_CITIES as usize);
        let mut state_country: HashMap<&str, usize> = HashMap::new();
        let mut city_names = std::collections::HashSet::new();
        for c in &g.cities {
            let country = &COUNTRIES[c.country];
            assert!(
                c.lat >= country.lat.0 && c.lat <= country.lat.1,
                "{} lat",
                c.name
            );
            assert!(
                c.lon >= country.lon.0 && c.lon <= country.lon.1,
                "{} lon",
                c.name
            );
            assert_eq!(
                *state_country.entry(&c.state).or_insert(c.country),
                c.country
            );
            assert!(
                city_names.insert(c.name.clone()),
                "duplicate city {}",
                c.name
            );
        }
        let total: f64 = g.cities.iter().map(|c| c.weight).sum();
        assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn same_seed_same_geography() {
        let a = Geography::new(7, 500);
        let b = Geography::new(7, 500);
        assert_eq!(
            a.cities.iter().map(|c| &c.name).collect::<Vec<_>>(),
            b.cities.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
    }
}
