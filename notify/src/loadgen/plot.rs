//! `latency.svg`: accept → arrival latency by percentile, one line per channel and measured
//! load. The x axis counts nines (50 %, 90 %, 99 %, 99.9 %), so the tail gets the room it
//! deserves; the y axis is linear milliseconds.

use std::fmt::Write;

use super::report::Phase;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// Nines of percentile `p` in (0, 1): 0.9 is 1, 0.99 is 2.
fn nines(p: f64) -> f64 {
    -(1.0 - p).log10()
}

/// The value at percentile `p` of sorted `values`.
fn at(values: &[u32], p: f64) -> f64 {
    let rank = (p * values.len() as f64).ceil() as usize;
    f64::from(values[rank.clamp(1, values.len()) - 1])
}

/// A round upper bound for the y axis.
fn ceiling(max: f64) -> f64 {
    let step = 10f64.powf(max.max(1.0).log10().floor());
    ((max / step).ceil() * step).max(1.0)
}

/// The plot of every measured phase (labels ending in "load").
pub fn latency_svg(phases: &[Phase]) -> String {
    let measured: Vec<&Phase> = phases
        .iter()
        .filter(|p| p.label.ends_with("load"))
        .collect();
    let points: Vec<f64> = (0..=60)
        .map(|i| 1.0 - 10f64.powf(-3.0 * f64::from(i) / 60.0))
        .collect();
    let mut lines = Vec::new();
    for phase in &measured {
        for (channel, values) in &phase.sorted_ms {
            if values.is_empty() {
                continue;
            }
            let curve: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (nines(p.max(0.5)), at(values, p.max(0.5))))
                .collect();
            lines.push((format!("{channel} @ {}", phase.label), curve));
        }
    }
    let top = ceiling(
        lines
            .iter()
            .flat_map(|(_, c)| c.iter().map(|pt| pt.1))
            .fold(1.0, f64::max),
    );
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |n: f64| LEFT + (n - nines(0.5)) / (3.0 - nines(0.5)) * plot_w;
    let y = |ms: f64| TOP + plot_h - ms / top * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"18\" font-size=\"13\">accept → arrival at the provider simulator (ms) by percentile</text>"
    );
    for (p, label) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")] {
        let gx = x(nines(p));
        let _ = writeln!(
            svg,
            "<line x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            TOP + plot_h,
            TOP + plot_h + 16.0
        );
    }
    for i in 0..=5 {
        let ms = top * f64::from(i) / 5.0;
        let gy = y(ms);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#eee\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{ms:.0}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            gy + 4.0
        );
    }
    for (k, (label, curve)) in lines.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let dash = if label.contains("80%") {
            " stroke-dasharray=\"5,3\""
        } else {
            ""
        };
        let path: Vec<String> = curve
            .iter()
            .map(|(n, ms)| format!("{:.1},{:.1}", x(*n), y(*ms)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>",
            path.join(" ")
        );
        let ly = TOP + 14.0 * k as f64 + 10.0;
        let lx = LEFT + plot_w + 12.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
            lx + 18.0,
            lx + 22.0,
            ly + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_and_round_bounds() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(ceiling(37.0), 40.0);
        assert_eq!(ceiling(230.0), 300.0);
        assert_eq!(at(&[1, 2, 3, 4], 0.5), 2.0);
    }
}
