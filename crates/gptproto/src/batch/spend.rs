//! What a batch has spent and holds reserved, in tokens and in money, and whether the next
//! request would pass a budget: a pure state the batch stream asks before each admission and
//! tells of each send and answer.

use gptproto_proto::price::{Cost, PriceTable};
use gptproto_proto::ratelimit::Reservation;
use gptproto_proto::wire::Usage;

use super::StopReason;

/// The budgets and what counts against them.
#[derive(Debug, Default)]
pub(super) struct Spend {
    budget_tokens: Option<u64>,
    tokens_spent: u64,
    tokens_in_flight: u64,
    prices: PriceTable,
    max_cost: Option<f64>,
    cost: Cost,
    cost_in_flight: f64,
    /// Answers with usage but no price for their model.
    unpriced: u64,
}

impl Spend {
    pub(super) fn new(
        budget_tokens: Option<u64>,
        prices: PriceTable,
        max_cost: Option<f64>,
    ) -> Self {
        Self {
            budget_tokens,
            prices,
            max_cost,
            ..Self::default()
        }
    }

    /// The most `reservation` can cost: its prompt estimate and its reserved output at its
    /// model's price (0 without a price).
    pub(super) fn reserved_cost(&self, reservation: &Reservation) -> f64 {
        self.prices.most_cost(reservation).unwrap_or(0.0)
    }

    /// The budget `next` would pass, counting what is spent and what is in flight.
    pub(super) fn would_pass(&self, next: &Reservation) -> Option<StopReason> {
        if let Some(budget) = self.budget_tokens
            && self.tokens_spent + self.tokens_in_flight + next.tokens() > budget
        {
            return Some(StopReason::BudgetReached);
        }
        match self.max_cost {
            Some(max)
                if self.cost.total() + self.cost_in_flight + self.reserved_cost(next) > max =>
            {
                Some(StopReason::CostReached)
            }
            _ => None,
        }
    }

    /// A request went with `reservation`.
    pub(super) fn sent(&mut self, reservation: &Reservation) {
        self.tokens_in_flight += reservation.tokens();
        self.cost_in_flight += self.reserved_cost(reservation);
    }

    /// A request's attempt ended: what it reserved is released; if answered, what it used is
    /// counted (its reservation, when the answer reports no usage), at the price of the model
    /// that answered (else the one asked).
    pub(super) fn ended(
        &mut self,
        reservation: &Reservation,
        answered: Option<(&str, Option<&Usage>)>,
    ) {
        self.tokens_in_flight = self.tokens_in_flight.saturating_sub(reservation.tokens());
        let reserved_cost = self.reserved_cost(reservation);
        self.cost_in_flight = (self.cost_in_flight - reserved_cost).max(0.0);
        let Some((model, usage)) = answered else {
            return;
        };
        self.tokens_spent += usage.map_or(reservation.tokens(), |usage| usage.total_tokens);
        let price = self
            .prices
            .get(model)
            .or_else(|| self.prices.get(&reservation.model));
        match (usage, price) {
            (Some(usage), Some(price)) => self.cost += price.cost(usage),
            (Some(_), None) => self.unpriced += 1,
            // No usage: its reservation is the most it can have cost.
            (None, _) => {
                self.cost.input += reserved_cost;
            }
        }
    }

    /// What the answers cost so far.
    pub(super) fn cost(&self) -> Cost {
        self.cost
    }

    /// Answers with usage but no price for their model.
    pub(super) fn unpriced(&self) -> u64 {
        self.unpriced
    }
}

#[cfg(test)]
mod tests {
    use gptproto_proto::ChatRequest;
    use gptproto_proto::price::Price;
    use gptproto_proto::ratelimit::{RateLimitConfig, RateLimiter};

    use super::*;

    fn reservation(max_tokens: u32) -> Reservation {
        RateLimiter::new(RateLimitConfig::default()).reserve(
            &ChatRequest::new("m")
                .user("a question")
                .max_tokens(max_tokens),
        )
    }

    #[test]
    fn the_cost_budget_counts_what_is_spent_and_what_is_in_flight() {
        let mut prices = PriceTable::new();
        prices
            .insert("m", Price::new(1_000_000.0, 1_000_000.0))
            .unwrap();
        // At a unit a token: a request reserves its prompt estimate plus 10.
        let next = reservation(10);
        let one = next.tokens() as f64;
        let mut spend = Spend::new(None, prices, Some(2.5 * one));
        assert_eq!(spend.reserved_cost(&next), one);
        assert_eq!(spend.would_pass(&next), None);
        spend.sent(&next);
        spend.sent(&next);
        assert_eq!(spend.would_pass(&next), Some(StopReason::CostReached));
        // An answer that used less frees room.
        spend.ended(&next, Some(("m", Some(&Usage::new(2, 3)))));
        assert_eq!(spend.cost().total(), 5.0);
        assert_eq!(spend.would_pass(&next), None);
        // A failed attempt releases its reservation and costs nothing.
        spend.ended(&next, None);
        assert_eq!(spend.cost().total(), 5.0);
        // An answer of a model without a price is counted as unpriced.
        spend.ended(&next, Some(("other", Some(&Usage::new(1, 1)))));
        assert_eq!(spend.unpriced(), 0, "priced by the model asked for");
    }

    #[test]
    fn the_token_budget_is_said_before_the_cost_budget() {
        let next = reservation(10);
        let spend = Spend::new(Some(next.tokens() - 1), PriceTable::new(), Some(0.0));
        assert_eq!(spend.would_pass(&next), Some(StopReason::BudgetReached));
        // Without prices, a cost budget holds nothing back.
        let spend = Spend::new(None, PriceTable::new(), Some(0.0));
        assert_eq!(spend.would_pass(&next), None);
    }
}
