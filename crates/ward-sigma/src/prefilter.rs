//! Rule prefilter: chooses which rules of a plan can possibly match an
//! event, so most rules are never evaluated.
//!
//! Placeholder: every rule is a candidate.

use crate::engine::{CRule, Eval};
use crate::event::EventFields;

#[derive(Debug, Clone, Default)]
pub(crate) struct Prefilter {
    rules: usize,
    when_slots: Vec<Vec<String>>,
}

impl Prefilter {
    pub fn build(rules: &[CRule], _slots: usize) -> Prefilter {
        Prefilter { rules: rules.len(), when_slots: Vec::new() }
    }

    pub fn set_when_slots(&mut self, slots: Vec<Vec<String>>) {
        self.when_slots = slots;
    }

    pub fn when_slots(&self) -> &[Vec<String>] {
        &self.when_slots
    }

    pub fn candidates<'p, E: EventFields>(&self, ev: &mut Eval<'_, 'p, E>, allowed: Option<&[u32]>) -> Vec<&'p CRule> {
        let plan = ev.plan;
        match allowed {
            Some(ids) => ids.iter().filter_map(|&i| plan.rules.get(i as usize)).collect(),
            None => plan.rules.iter().take(self.rules).collect(),
        }
    }
}
