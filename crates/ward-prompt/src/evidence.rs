//! Collects hits per reason code while a text is scanned and turns them into
//! the reasons of a verdict.
//!
//! Invariant: hits of one code combine by noisy-or (`1 - Π(1 - w)`), so many
//! weak hits add up but never exceed 1, and one code never has two entries.

use crate::reason::Reason;

/// Longest `detail` kept, in bytes.
const DETAIL_MAX: usize = 80;

#[derive(Debug, Clone)]
struct Slot {
    code: &'static str,
    weight: f32,
    /// The strongest single hit, whose detail is kept.
    top: f32,
    detail: String,
    hits: u32,
}

/// Hits gathered so far, grouped by reason code.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    slots: Vec<Slot>,
}

impl Evidence {
    /// Records one hit of `code`; `detail` labels the strongest hit.
    pub fn add(&mut self, code: &'static str, weight: f32, detail: &str) {
        self.add_with(code, weight, || detail.to_owned());
    }

    /// Records a verb-object pair hit.
    pub fn add_pair(&mut self, code: &'static str, weight: f32, verb: &str, object: &str) {
        self.add_with(code, weight, || format!("{verb} … {object}"));
    }

    /// Records one hit of `code`, building the detail only if it is needed.
    pub fn add_with(&mut self, code: &'static str, weight: f32, detail: impl FnOnce() -> String) {
        let weight = weight.clamp(0.0, 1.0);
        if let Some(slot) = self.slots.iter_mut().find(|s| s.code == code) {
            if weight > slot.top {
                slot.top = weight;
                slot.detail = clip(detail());
            }
            slot.weight = 1.0 - (1.0 - slot.weight) * (1.0 - weight);
            slot.hits += 1;
        } else {
            self.slots.push(Slot {
                code,
                weight,
                top: weight,
                detail: clip(detail()),
                hits: 1,
            });
        }
    }

    /// Merges evidence found in decoded or hidden text, tagging each detail
    /// with where it came from.
    pub fn merge_from(&mut self, other: &Evidence, origin: &str) {
        for s in &other.slots {
            self.add_with(s.code, s.weight, || format!("{} [{origin}]", s.detail));
        }
    }

    /// Lowers every code's weight to at most `max`, marking the detail.
    pub fn cap(&mut self, max: f32, why: &str) {
        for s in &mut self.slots {
            if s.weight > max {
                s.weight = max;
                s.top = s.top.min(max);
                s.detail = clip(format!("{} ({why})", s.detail));
            }
        }
    }

    /// The strongest single code's weight.
    pub fn max_weight(&self) -> f32 {
        self.slots.iter().map(|s| s.weight).fold(0.0, f32::max)
    }

    /// The code with the strongest weight, if any.
    pub fn strongest(&self) -> Option<&'static str> {
        self.slots
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight))
            .map(|s| s.code)
    }

    /// Noisy-or of all codes: the heuristic score.
    pub fn score(&self) -> f32 {
        1.0 - self.slots.iter().map(|s| 1.0 - s.weight).product::<f32>()
    }

    /// The codes seen, in first-seen order.
    pub fn codes(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.code).collect()
    }

    /// The reasons, strongest first.
    pub fn into_reasons(self) -> Vec<Reason> {
        let mut reasons: Vec<Reason> = self
            .slots
            .into_iter()
            .map(|s| Reason {
                code: s.code,
                detail: if s.hits > 1 {
                    clip(format!("{} (+{} more)", s.detail, s.hits - 1))
                } else {
                    s.detail
                },
                weight: s.weight,
            })
            .collect();
        reasons.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        reasons
    }
}

fn clip(mut s: String) -> String {
    if s.len() > DETAIL_MAX {
        let mut cut = DETAIL_MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_combine_by_noisy_or() {
        let mut ev = Evidence::default();
        ev.add("a", 0.5, "x");
        ev.add("a", 0.5, "y");
        ev.add("b", 0.5, "z");
        let reasons = ev.clone().into_reasons();
        assert_eq!(reasons.len(), 2);
        assert!((reasons[0].weight - 0.75).abs() < 1e-6);
        assert_eq!(reasons[0].detail, "x (+1 more)");
        assert!((ev.score() - 0.875).abs() < 1e-6);
    }

    #[test]
    fn details_are_clipped_on_a_char_boundary() {
        let mut ev = Evidence::default();
        ev.add("a", 0.1, &"é".repeat(100));
        let r = ev.into_reasons();
        assert!(r[0].detail.len() <= DETAIL_MAX + '…'.len_utf8());
    }
}
