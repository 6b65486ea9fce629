//! Elo ratings with K = 32: how much a finished game moves each player's rating.
//!
//! Two players: the winner scores 1, the loser 0, a draw 0.5 each, and each player's delta is
//! `K · (S − E)` with the expected score `E_a = 1 / (1 + 10^((R_b − R_a) / 400))`. Two-player
//! deltas always sum to 0.
//!
//! More than two players (the relay game): each player's delta is the average, over every
//! opponent, of the pairwise `K · (S − E)`. The winner beat every opponent (1, and 0 for them);
//! players who did not win drew with each other (0.5), as every pair does when nobody won. So a
//! game moves no rating into or out of the pool: three equal players give +16, −8, −8.

/// How far one game can move a rating.
pub const K: f64 = 32.0;

/// The expected score of a player rated `rating` against one rated `opponent`: 0.5 between
/// equals, nearer 1 the stronger the player.
pub fn expected(rating: f64, opponent: f64) -> f64 {
    1.0 / (1.0 + 10f64.powf((opponent - rating) / 400.0))
}

/// Each player's rating change, in the order of `ratings`; `winner` is an index into `ratings`,
/// `None` for a draw. A player without opponents (a game of one) gets 0.
pub fn deltas(ratings: &[f64], winner: Option<usize>) -> Vec<f64> {
    let opponents = ratings.len().saturating_sub(1);
    ratings
        .iter()
        .enumerate()
        .map(|(me, &rating)| {
            if opponents == 0 {
                return 0.0;
            }
            let total: f64 = ratings
                .iter()
                .enumerate()
                .filter(|&(other, _)| other != me)
                .map(|(other, &opponent)| {
                    // The winner beat everyone; everyone else drew with each other.
                    let score = match winner {
                        Some(w) if w == me => 1.0,
                        Some(w) if w == other => 0.0,
                        _ => 0.5,
                    };
                    K * (score - expected(rating, opponent))
                })
                .sum();
            // Player counts are small: the conversion is exact.
            total / opponents as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn equals_win_and_lose_sixteen() {
        let d = deltas(&[1000.0, 1000.0], Some(0));
        assert_eq!(d, vec![16.0, -16.0]);
        assert_eq!((1000.0 + d[0], 1000.0 + d[1]), (1016.0, 984.0));
        assert_eq!(deltas(&[1000.0, 1000.0], Some(1)), vec![-16.0, 16.0]);
    }

    #[test]
    fn a_draw_between_equals_changes_nothing() {
        assert_eq!(deltas(&[1000.0, 1000.0], None), vec![0.0, 0.0]);
    }

    #[test]
    fn a_draw_moves_the_stronger_player_down() {
        let d = deltas(&[1200.0, 1000.0], None);
        assert!(d[0] < 0.0 && d[1] > 0.0, "{d:?}");
        assert!(close(d[0] + d[1], 0.0));
    }

    #[test]
    fn an_upset_moves_more_than_an_expected_win() {
        // 1000 beats 1200: E = 1 / (1 + 10^0.5) ≈ 0.240253, delta ≈ 24.3119.
        let upset = deltas(&[1000.0, 1200.0], Some(0));
        assert!(close(upset[0], 32.0 * (1.0 - 1.0 / (1.0 + 10f64.sqrt()))));
        assert!((upset[0] - 24.3119).abs() < 1e-3, "{upset:?}");
        assert!(close(upset[1], -upset[0]));
        let expected_win = deltas(&[1200.0, 1000.0], Some(0));
        assert!(expected_win[0] > 0.0 && expected_win[0] < upset[0]);
    }

    #[test]
    fn two_player_deltas_sum_to_zero() {
        for (a, b) in [
            (1000.0, 1000.0),
            (1500.0, 900.0),
            (873.25, 1410.5),
            (0.0, 3000.0),
        ] {
            for winner in [None, Some(0), Some(1)] {
                let d = deltas(&[a, b], winner);
                assert!(close(d[0] + d[1], 0.0), "{a} {b} {winner:?}: {d:?}");
            }
        }
    }

    #[test]
    fn expected_scores_are_symmetric() {
        assert!(close(expected(1000.0, 1000.0), 0.5));
        assert!(close(
            expected(1400.0, 1000.0) + expected(1000.0, 1400.0),
            1.0
        ));
        assert!(close(expected(1400.0, 1000.0), 1.0 / 1.1));
    }

    #[test]
    fn three_equal_players_with_a_winner() {
        // The winner gains 16 against each opponent; the losers lose 16 to the winner and draw
        // with each other, so the game moves no rating in or out of the pool.
        assert_eq!(
            deltas(&[1000.0, 1000.0, 1000.0], Some(1)),
            vec![-8.0, 16.0, -8.0]
        );
    }

    #[test]
    fn three_players_draw() {
        assert_eq!(deltas(&[1000.0; 3], None), vec![0.0; 3]);
        let d = deltas(&[1100.0, 1000.0, 900.0], None);
        assert!(d[0] < 0.0 && d[2] > 0.0, "{d:?}");
        assert!(close(d[1], 0.0));
        assert!(close(d.iter().sum::<f64>(), 0.0));
    }

    #[test]
    fn three_players_average_the_pairwise_changes() {
        let ratings = [1200.0, 1000.0, 1100.0];
        let d = deltas(&ratings, Some(1));
        let winner =
            (K * (1.0 - expected(1000.0, 1200.0)) + K * (1.0 - expected(1000.0, 1100.0))) / 2.0;
        // The 1200 player lost to the winner and drew with the 1100 player.
        let first =
            (K * (0.0 - expected(1200.0, 1000.0)) + K * (0.5 - expected(1200.0, 1100.0))) / 2.0;
        assert!(close(d[1], winner), "{d:?}");
        assert!(close(d[0], first), "{d:?}");
        assert!(close(d.iter().sum::<f64>(), 0.0), "{d:?}");
        assert!(d[1] > 16.0, "an underdog's win is worth more: {d:?}");
    }

    #[test]
    fn games_of_one_or_none() {
        assert_eq!(deltas(&[1000.0], Some(0)), vec![0.0]);
        assert_eq!(deltas(&[1000.0], None), vec![0.0]);
        assert!(deltas(&[], None).is_empty());
    }
}
