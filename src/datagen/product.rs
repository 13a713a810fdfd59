//! `dim_product`: products as SCD Type 2 versions.
//!
//! Each product (natural key `product_id`) has 1-3 versions whose
//! [effective_date, expiration_date] ranges tile time with no gap or overlap;
//! the last is current and expires 9999-12-31. A new version is a price change
//! (and sometimes a rebrand). Popularity follows a Zipf curve tuned so the top
//! 20% of products take about 80% of line items, and categories have their own
//! seasons (toys in December, office supplies in August).

use std::sync::Arc;

use arrow::array::{BooleanArray, Date32Array, Int32Array, RecordBatch, StringArray};
use chrono::NaiveDate;

use super::calendar::date32;
use super::names::{ADJECTIVES, BRAND_PARTS_A, BRAND_PARTS_B};
use super::rng::{Alias, Stream, below, unit};
use crate::model::{Table, money_array};

pub struct Subcategory {
    pub name: &'static str,
    /// List price range in dollars (log-uniform).
    pub price: (f64, f64),
    pub nouns: &'static [&'static str],
}

pub struct Category {
    pub name: &'static str,
    /// Share of the catalogue's products.
    pub share: f64,
    /// Gross margin range (cost = price x (1 - margin)).
    pub margin: (f64, f64),
    /// Demand multiplier by month (January first).
    pub season: [f64; 12],
    pub subcategories: &'static [Subcategory],
}

const fn sub(name: &'static str, price: (f64, f64), nouns: &'static [&'static str]) -> Subcategory {
    Subcategory { name, price, nouns }
}

pub const CATEGORIES: [Category; 10] = [
    Category {
        name: "Electronics",
        share: 0.12,
        margin: (0.15, 0.35),
        season: [0.8, 0.8, 0.9, 0.9, 0.9, 0.9, 0.95, 1.0, 1.0, 1.0, 1.5, 1.6],
        subcategories: &[
            sub(
                "Smartphones",
                (129.0, 1199.0),
                &["Smartphone", "Phone", "Mobile"],
            ),
            sub(
                "Laptops",
                (349.0, 2499.0),
                &["Laptop", "Notebook", "Ultrabook"],
            ),
            sub(
                "Headphones",
                (19.0, 399.0),
                &["Headphones", "Earbuds", "Headset"],
            ),
            sub(
                "Televisions",
                (179.0, 2999.0),
                &["4K TV", "OLED TV", "Smart TV"],
            ),
            sub(
                "Accessories",
                (6.0, 79.0),
                &["Charger", "Cable", "Power Bank", "Case"],
            ),
            sub("Cameras", (89.0, 1899.0), &["Camera", "Action Cam", "Lens"]),
        ],
    },
    Category {
        name: "Home & Kitchen",
        share: 0.12,
        margin: (0.30, 0.50),
        season: [
            0.9, 0.9, 1.0, 1.05, 1.1, 1.0, 0.95, 0.95, 0.95, 1.0, 1.3, 1.2,
        ],
        subcategories: &[
            sub(
                "Cookware",
                (12.0, 299.0),
                &["Skillet", "Saucepan", "Dutch Oven", "Knife Set"],
            ),
            sub(
                "Small Appliances",
                (19.0, 499.0),
                &["Blender", "Coffee Maker", "Air Fryer", "Toaster"],
            ),
            sub(
                "Furniture",
                (49.0, 1499.0),
                &["Sofa", "Desk", "Bookshelf", "Armchair"],
            ),
            sub(
                "Bedding",
                (15.0, 249.0),
                &["Duvet", "Pillow", "Sheet Set", "Blanket"],
            ),
            sub("Decor", (5.0, 149.0), &["Lamp", "Vase", "Mirror", "Candle"]),
        ],
    },
    Category {
        name: "Clothing",
        share: 0.14,
        margin: (0.45, 0.65),
        season: [
            0.85, 0.85, 1.1, 1.0, 1.0, 0.95, 0.95, 1.0, 1.15, 1.05, 1.2, 1.3,
        ],
        subcategories: &[
            sub(
                "Men's Apparel",
                (9.0, 149.0),
                &["Shirt", "Chinos", "Polo", "Sweater"],
            ),
            sub(
                "Women's Apparel",
                (9.0, 179.0),
                &["Dress", "Blouse", "Skirt", "Cardigan"],
            ),
            sub(
                "Kids' Apparel",
                (5.0, 69.0),
                &["T-Shirt", "Hoodie", "Pajamas", "Leggings"],
            ),
            sub(
                "Shoes",
                (19.0, 199.0),
                &["Sneakers", "Boots", "Sandals", "Loafers"],
            ),
            sub(
                "Outerwear",
                (39.0, 349.0),
                &["Jacket", "Parka", "Raincoat", "Vest"],
            ),
        ],
    },
    Category {
        name: "Grocery",
        share: 0.20,
        margin: (0.20, 0.35),
        season: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.15, 1.15],
        subcategories: &[
            sub(
                "Snacks",
                (1.0, 12.0),
                &["Chips", "Crackers", "Trail Mix", "Granola Bars"],
            ),
            sub(
                "Beverages",
                (1.0, 25.0),
                &["Coffee", "Tea", "Sparkling Water", "Juice"],
            ),
            sub(
                "Pantry",
                (1.0, 20.0),
                &["Pasta", "Olive Oil", "Rice", "Cereal"],
            ),
            sub(
                "Fresh Produce",
                (1.0, 10.0),
                &["Apples", "Avocados", "Berries", "Salad Mix"],
            ),
            sub(
                "Dairy",
                (1.0, 12.0),
                &["Yogurt", "Cheese", "Milk", "Butter"],
            ),
        ],
    },
    Category {
        name: "Beauty & Personal Care",
        share: 0.09,
        margin: (0.50, 0.70),
        season: [
            0.9, 1.2, 1.0, 1.0, 1.15, 1.0, 0.95, 0.95, 0.95, 1.0, 1.2, 1.4,
        ],
        subcategories: &[
            sub(
                "Skincare",
                (5.0, 89.0),
                &["Moisturizer", "Serum", "Cleanser", "Sunscreen"],
            ),
            sub(
                "Haircare",
                (4.0, 49.0),
                &["Shampoo", "Conditioner", "Hair Oil", "Styling Gel"],
            ),
            sub(
                "Makeup",
                (4.0, 59.0),
                &["Lipstick", "Mascara", "Foundation", "Palette"],
            ),
            sub(
                "Fragrance",
                (19.0, 149.0),
                &["Eau de Parfum", "Cologne", "Body Mist"],
            ),
        ],
    },
    Category {
        name: "Sports & Outdoors",
        share: 0.08,
        margin: (0.30, 0.50),
        season: [
            1.35, 1.0, 1.0, 1.1, 1.25, 1.3, 1.3, 1.1, 0.95, 0.9, 1.0, 1.1,
        ],
        subcategories: &[
            sub(
                "Fitness",
                (9.0, 999.0),
                &["Yoga Mat", "Dumbbells", "Treadmill", "Resistance Bands"],
            ),
            sub(
                "Camping",
                (9.0, 499.0),
                &["Tent", "Sleeping Bag", "Lantern", "Backpack"],
            ),
            sub(
                "Cycling",
                (15.0, 1499.0),
                &["Road Bike", "Helmet", "Bike Light", "Jersey"],
            ),
            sub(
                "Team Sports",
                (7.0, 199.0),
                &["Soccer Ball", "Basketball", "Cleats", "Shin Guards"],
            ),
        ],
    },
    Category {
        name: "Toys & Games",
        share: 0.07,
        margin: (0.35, 0.55),
        season: [
            0.7, 0.7, 0.75, 0.8, 0.8, 0.85, 0.85, 0.85, 0.85, 1.0, 1.6, 2.6,
        ],
        subcategories: &[
            sub(
                "Building Sets",
                (9.0, 199.0),
                &["Building Set", "Construction Kit", "Brick Set"],
            ),
            sub(
                "Board Games",
                (9.0, 79.0),
                &["Board Game", "Card Game", "Puzzle"],
            ),
            sub(
                "Dolls & Figures",
                (5.0, 79.0),
                &["Doll", "Action Figure", "Plush Toy"],
            ),
            sub(
                "Outdoor Play",
                (15.0, 299.0),
                &["Scooter", "Swing Set", "Water Blaster"],
            ),
        ],
    },
    Category {
        name: "Books & Media",
        share: 0.08,
        margin: (0.25, 0.45),
        season: [
            0.95, 0.9, 0.95, 0.95, 0.95, 1.0, 1.05, 1.2, 1.1, 1.0, 1.15, 1.3,
        ],
        subcategories: &[
            sub("Fiction", (5.0, 29.0), &["Novel", "Thriller", "Anthology"]),
            sub(
                "Non-Fiction",
                (7.0, 39.0),
                &["Biography", "Cookbook", "History"],
            ),
            sub("Music", (8.0, 35.0), &["Vinyl LP", "CD Album", "Box Set"]),
            sub(
                "Video Games",
                (19.0, 69.0),
                &["Video Game", "Game Bundle", "Expansion"],
            ),
        ],
    },
    Category {
        name: "Office Supplies",
        share: 0.05,
        margin: (0.35, 0.55),
        season: [1.1, 1.0, 1.0, 0.95, 0.9, 0.9, 1.1, 1.6, 1.3, 1.0, 0.9, 0.85],
        subcategories: &[
            sub(
                "Paper",
                (3.0, 39.0),
                &["Copy Paper", "Notebook", "Sticky Notes"],
            ),
            sub("Writing", (2.0, 29.0), &["Pens", "Markers", "Pencils"]),
            sub(
                "Desk Accessories",
                (5.0, 99.0),
                &["Desk Organizer", "Stapler", "Monitor Stand"],
            ),
            sub(
                "Printers & Ink",
                (15.0, 399.0),
                &["Printer", "Ink Cartridge", "Toner"],
            ),
        ],
    },
    Category {
        name: "Health & Wellness",
        share: 0.05,
        margin: (0.40, 0.60),
        season: [
            1.4, 1.1, 1.0, 0.95, 0.95, 0.9, 0.9, 0.9, 0.95, 1.15, 1.15, 1.15,
        ],
        subcategories: &[
            sub(
                "Vitamins",
                (5.0, 49.0),
                &["Multivitamin", "Vitamin D", "Omega-3", "Protein Powder"],
            ),
            sub(
                "First Aid",
                (3.0, 39.0),
                &["Bandages", "First Aid Kit", "Thermometer"],
            ),
            sub(
                "Health Devices",
                (15.0, 199.0),
                &["Blood Pressure Monitor", "Scale", "Massager"],
            ),
        ],
    },
];

/// The last day of a current version.
pub fn open_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date")
}

#[derive(Debug, Clone)]
pub struct Version {
    pub effective: NaiveDate,
    pub expiration: NaiveDate,
    pub brand: Arc<str>,
    /// Cents.
    pub list_price: i64,
    /// Cents.
    pub unit_cost: i64,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub category: usize,
    pub subcategory: usize,
    /// Surrogate key of the first version; versions are numbered consecutively.
    pub first_key: i32,
    pub versions: Vec<Version>,
}

/// The product catalogue plus what the fact generator needs to draw from it.
#[derive(Debug)]
pub struct Catalogue {
    pub products: Vec<Product>,
    /// Popularity weight of each product (before category seasonality).
    pub popularity: Vec<f64>,
    /// Zipf exponent that gives the top 20% about 80% of base popularity.
    pub zipf_exponent: f64,
    /// One sampler per calendar month (index 0 = January).
    pub by_month: Vec<Alias>,
    /// Flattened version lookup: for product p, versions
    /// `version_start[p]..version_start[p+1]` of `version_from` (Date32 of the
    /// effective date; the first version's is i32::MIN) and `version_price` etc.
    pub version_start: Vec<u32>,
    pub version_from: Vec<i32>,
    pub version_price: Vec<i64>,
    pub version_cost: Vec<i64>,
}

/// Share of total weight held by the top 20% of a Zipf(s) curve over n items.
fn top20_share(n: usize, s: f64) -> f64 {
    let w: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-s)).collect();
    let top = n.div_ceil(5);
    w[..top].iter().sum::<f64>() / w.iter().sum::<f64>()
}

/// The exponent whose top-20% share is 0.80 (bisection; at least 0.3 so tiny
/// catalogues stay skewed).
pub fn pareto_exponent(n: usize) -> f64 {
    let (mut lo, mut hi) = (0.3f64, 3.0f64);
    if n < 5 || top20_share(n, lo) >= 0.80 {
        return lo;
    }
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        if top20_share(n, mid) < 0.80 {
            lo = mid
        } else {
            hi = mid
        }
    }
    0.5 * (lo + hi)
}

/// A "psychological" price in cents: x.99, x.49 or x.95 (x.x9 under $10).
fn retail_price(dollars: f64, bits: u64) -> i64 {
    let whole = dollars.floor().max(0.0) as i64;
    if dollars < 10.0 {
        let dimes = ((dollars - whole as f64) * 10.0).floor() as i64;
        return (whole * 100 + dimes * 10 + 9).max(99);
    }
    let ending = [99, 99, 49, 95][below(bits, 4) as usize];
    whole * 100 + ending
}

fn brand_name(bits: u64) -> String {
    format!(
        "{}{}",
        BRAND_PARTS_A[below(bits, BRAND_PARTS_A.len() as u32) as usize],
        BRAND_PARTS_B[below(bits >> 32, BRAND_PARTS_B.len() as u32) as usize]
    )
}

impl Catalogue {
    /// `start..=end` is the data span: version changes fall inside it, first
    /// versions begin up to two years before it.
    pub fn new(seed: u64, n_products: u32, start: NaiveDate, end: NaiveDate) -> Catalogue {
        let n = n_products as usize;
        let stream = Stream::new(seed, "dim_product");
        let span_days = (end - start).num_days().max(1) as u32;
        // Brands: 8 per category, names unique across the catalogue.
        let mut seen = std::collections::HashSet::new();
        let mut brands: Vec<Vec<Arc<str>>> = Vec::new();
        let bs = stream.sub(1);
        let mut k = 0u64;
        for _ in CATEGORIES.iter() {
            let mut list = Vec::new();
            while list.len() < 8 {
                let name = brand_name(bs.at(k));
                k += 1;
                if seen.insert(name.clone()) {
                    list.push(Arc::from(name.as_str()));
                }
            }
            brands.push(list);
        }
        let cat_alias = Alias::new(&CATEGORIES.iter().map(|c| c.share).collect::<Vec<_>>());

        let mut products = Vec::with_capacity(n);
        let mut next_key = 1i32;
        for p in 0..n as u64 {
            let ps = stream.sub(1_000 + p);
            let ci = cat_alias.sample(ps.at(0)) as usize;
            let cat = &CATEGORIES[ci];
            let si = below(ps.at(1), cat.subcategories.len() as u32) as usize;
            let subc = &cat.subcategories[si];
            let brand = brands[ci][below(ps.at(2), 8) as usize].clone();
            let noun = subc.nouns[below(ps.at(3), subc.nouns.len() as u32) as usize];
            let adj = ADJECTIVES[below(ps.at(4), ADJECTIVES.len() as u32) as usize];
            let model = 100 + below(ps.at(5), 900);
            let name = format!("{brand} {adj} {noun} {model}");
            let (lo, hi) = subc.price;
            let dollars = (lo.ln() + (hi.ln() - lo.ln()) * unit(ps.at(6))).exp();
            let mut price = retail_price(dollars, ps.at(7));
            let margin = cat.margin.0 + (cat.margin.1 - cat.margin.0) * unit(ps.at(8));
            // 70% never change, 25% change once, 5% twice: ~1.35 versions each.
            let roll = unit(ps.at(9));
            let changes = if roll < 0.70 {
                0
            } else if roll < 0.95 {
                1
            } else {
                2
            };
            let mut change_days: Vec<u32> = (0..changes)
                .map(|c| 1 + below(ps.at(10 + c), span_days))
                .collect();
            change_days.sort_unstable();
            change_days.dedup();
            let first_effective = start - chrono::Duration::days(below(ps.at(20), 730) as i64);
            let mut versions = Vec::with_capacity(change_days.len() + 1);
            let mut effective = first_effective;
            let mut brand_now = brand;
            for (vi, &cd) in change_days
                .iter()
                .chain(std::iter::once(&u32::MAX))
                .enumerate()
            {
                let expiration = if cd == u32::MAX {
                    open_end()
                } else {
                    start + chrono::Duration::days(cd as i64 - 1)
                };
                let cost = ((price as f64) * (1.0 - margin)).round() as i64;
                versions.push(Version {
                    effective,
                    expiration,
                    brand: brand_now.clone(),
                    list_price: price,
                    unit_cost: cost.max(1),
                });
                if cd == u32::MAX {
                    break;
                }
                effective = expiration.succ_opt().expect("date in range");
                // A price change of -10%..+15%, sometimes with a rebrand.
                let vs = ps.sub(100 + vi as u64);
                let change = -0.10 + 0.25 * unit(vs.at(0));
                price = retail_price(price as f64 / 100.0 * (1.0 + change), vs.at(1));
                if unit(vs.at(2)) < 0.15 {
                    brand_now = brands[ci][below(vs.at(3), 8) as usize].clone();
                }
            }
            products.push(Product {
                id: format!("SKU-{:06}", p + 1),
                name,
                category: ci,
                subcategory: si,
                first_key: next_key,
                versions,
            });
            next_key += products
                .last()
                .map_or(0, |p: &Product| p.versions.len() as i32);
        }

        // Popularity: Zipf over a seeded permutation of the catalogue.
        let zipf_exponent = pareto_exponent(n);
        let mut order: Vec<usize> = (0..n).collect();
        let os = stream.sub(2);
        for j in (1..n).rev() {
            order.swap(j, below(os.at(j as u64), j as u32 + 1) as usize);
        }
        let mut popularity = vec![0.0; n];
        for (rank, &p) in order.iter().enumerate() {
            popularity[p] = (rank as f64 + 1.0).powf(-zipf_exponent);
        }
        let by_month = (0..12)
            .map(|m| {
                let w: Vec<f64> = products
                    .iter()
                    .zip(&popularity)
                    .map(|(p, pop)| pop * CATEGORIES[p.category].season[m])
                    .collect();
                Alias::new(&w)
            })
            .collect();

        let mut version_start = Vec::with_capacity(n + 1);
        let (mut version_from, mut version_price, mut version_cost) =
            (Vec::new(), Vec::new(), Vec::new());
        for p in &products {
            version_start.push(version_from.len() as u32);
            for (i, v) in p.versions.iter().enumerate() {
                version_from.push(if i == 0 {
                    i32::MIN
                } else {
                    date32(v.effective)
                });
                version_price.push(v.list_price);
                version_cost.push(v.unit_cost);
            }
        }
        version_start.push(version_from.len() as u32);
        Catalogue {
            products,
            popularity,
            zipf_exponent,
            by_month,
            version_start,
            version_from,
            version_price,
            version_cost,
        }
    }

    /// Rows of `dim_product`.
    pub fn version_count(&self) -> usize {
        self.version_from.len()
    }

    /// The flattened index of the version of `product` valid on `day` (Date32).
    #[inline(always)]
    pub fn version_on(&self, product: usize, day: i32) -> usize {
        let (lo, hi) = (
            self.version_start[product] as usize,
            self.version_start[product + 1] as usize,
        );
        let mut v = lo;
        while v + 1 < hi && self.version_from[v + 1] <= day {
            v += 1;
        }
        v
    }

    /// Surrogate key of a flattened version index (keys are 1-based and dense).
    #[inline(always)]
    pub fn key_of(version: usize) -> i32 {
        version as i32 + 1
    }

    pub fn batch(&self) -> RecordBatch {
        let rows = self.version_count();
        let mut key = Vec::with_capacity(rows);
        let (mut id, mut name, mut cat, mut subc, mut brand) = (
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
        );
        let (mut price, mut cost, mut eff, mut exp, mut cur) = (
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
        );
        for p in &self.products {
            for (i, v) in p.versions.iter().enumerate() {
                key.push(p.first_key + i as i32);
                id.push(p.id.as_str());
                name.push(p.name.as_str());
                let c = &CATEGORIES[p.category];
                cat.push(c.name);
                subc.push(c.subcategories[p.subcategory].name);
                brand.push(v.brand.to_string());
                price.push(v.list_price as i128);
                cost.push(v.unit_cost as i128);
                eff.push(date32(v.effective));
                exp.push(date32(v.expiration));
                cur.push(i + 1 == p.versions.len());
            }
        }
        RecordBatch::try_new(
            Table::DimProduct.schema(),
            vec![
                Arc::new(Int32Array::from(key)),
                Arc::new(StringArray::from(id)),
                Arc::new(StringArray::from(name)),
                Arc::new(StringArray::from(cat)),
                Arc::new(StringArray::from(subc)),
                Arc::new(StringArray::from(brand)),
                money_array(price),
                money_array(cost),
                Arc::new(Date32Array::from(eff)),
                Arc::new(Date32Array::from(exp)),
                Arc::new(BooleanArray::from(cur)),
            ],
        )
        .expect("dim_product batch matches its schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span() -> (NaiveDate, NaiveDate) {
        (
            NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
        )
    }

    #[test]
    fn versions_tile_time_with_one_current() {
        let (s, e) = span();
        let c = Catalogue::new(42, 10_000, s, e);
        let rows = c.version_count();
        assert!((10_000..=15_000).contains(&rows), "{rows} versions");
        for p in &c.products {
            for w in p.versions.windows(2) {
                assert_eq!(
                    w[0].expiration.succ_opt().unwrap(),
                    w[1].effective,
                    "{}",
                    p.id
                );
            }
            assert!(p.versions[0].effective <= s);
            assert_eq!(p.versions.last().unwrap().expiration, open_end());
            for v in &p.versions {
                assert!(v.unit_cost < v.list_price, "{} cost below price", p.id);
            }
        }
        // version_on agrees with the ranges.
        let p = c
            .products
            .iter()
            .position(|p| p.versions.len() == 3)
            .expect("a product with 3 versions");
        for v in 0..3 {
            let day = date32(c.products[p].versions[v].effective.max(s));
            assert_eq!(c.version_on(p, day), c.version_start[p] as usize + v);
        }
    }

    #[test]
    fn pareto_exponent_gives_80_20() {
        for n in [50, 1_000, 10_000] {
            let s = pareto_exponent(n);
            assert!((top20_share(n, s) - 0.80).abs() < 0.001, "n={n}");
        }
    }

    #[test]
    fn prices_end_like_retail_prices() {
        let (s, e) = span();
        let c = Catalogue::new(1, 2_000, s, e);
        let endings = c
            .version_price
            .iter()
            .filter(|p| [99, 49, 95, 9, 19, 29, 39, 59, 69, 79, 89].contains(&(*p % 100)))
            .count();
        assert_eq!(endings, c.version_price.len());
    }
}
