//! Arrays → figures (PNG, or SVG when the path ends in `.svg`): the loss curve on a log axis,
//! output against target per channel, and a spike raster.
//!
//! Text uses DejaVu Sans, bundled in `assets/` (plotters is built without system font
//! libraries) and registered before the first figure. Files are drawn beside their target under
//! a temporary name and renamed into place, so a reader never sees half a figure.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::{ArrayD, ArrayView2, Axis, Ix2};
use plotters::coord::Shift;
use plotters::prelude::*;
use thiserror::Error;

/// The loss figure's size in pixels (width, height).
pub const LOSS_PLOT_SIZE: (u32, u32) = (1000, 600);
/// The raster figure's size in pixels.
pub const RASTER_PLOT_SIZE: (u32, u32) = (1000, 600);
/// At most this many channels are drawn in an output-vs-target figure (the first ones).
pub const MAX_PLOTTED_CHANNELS: usize = 8;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const OUTPUT_COLOUR: RGBColor = RGBColor(31, 119, 180);
const TARGET_COLOUR: RGBColor = RGBColor(60, 60, 60);

/// The output-vs-target figure's size for `channels` channels: one 280-pixel panel per drawn
/// channel below a 50-pixel title.
pub fn output_plot_size(channels: usize) -> (u32, u32) {
    let panels = channels.clamp(1, MAX_PLOTTED_CHANNELS) as u32;
    (1000, 50 + 280 * panels)
}

/// Why a figure was not written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The path ends in neither `.png` nor `.svg`.
    #[error("cannot plot to `{}`: the file name must end in .png or .svg", .path.display())]
    Format {
        /// The path asked for.
        path: PathBuf,
    },
    /// The arrays cannot be drawn (wrong rank, shapes that disagree, nothing finite).
    #[error("cannot plot `{}`: {detail}", .path.display())]
    Data {
        /// The figure's path.
        path: PathBuf,
        /// What is wrong with the data.
        detail: String,
    },
    /// plotters failed while drawing or encoding.
    #[error("cannot draw `{}`: {detail}", .path.display())]
    Draw {
        /// The figure's path.
        path: PathBuf,
        /// plotters' explanation.
        detail: String,
    },
    /// The finished figure could not be moved into place.
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        /// The figure's path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Draws `losses` (one per epoch, epoch 1 first) on a logarithmic axis. Values that are not
/// positive and finite are left out; at least one must remain.
pub fn plot_loss(path: impl AsRef<Path>, losses: &[f64]) -> Result<(), PlotError> {
    let path = path.as_ref();
    let points: Vec<(f64, f64)> = losses
        .iter()
        .enumerate()
        .filter(|(_, loss)| loss.is_finite() && **loss > 0.0)
        .map(|(index, loss)| ((index + 1) as f64, *loss))
        .collect();
    if points.is_empty() {
        let detail = format!("none of the {} losses is positive and finite", losses.len());
        return Err(PlotError::Data { path: path.to_path_buf(), detail });
    }
    save(path, &LossFigure { points, epochs: losses.len() })
}

/// Draws the first sample's output and target, one panel per channel (the first
/// [`MAX_PLOTTED_CHANNELS`]), against time `step·dt` in seconds. Both arrays are `[B, T, N]` or
/// `[T, N]` with the same `T` and `N`.
pub fn plot_output_vs_target(
    path: impl AsRef<Path>,
    output: &ArrayD<f64>,
    target: &ArrayD<f64>,
    dt: f64,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let output_sample = first_sample(path, "output", output)?;
    let target_sample = first_sample(path, "target", target)?;
    if output_sample.shape() != target_sample.shape() {
        let detail = format!("the output has shape {:?} but the target {:?}", output.shape(), target.shape());
        return Err(PlotError::Data { path: path.to_path_buf(), detail });
    }
    save(path, &OutputFigure { output: output_sample, target: target_sample, dt: time_step(dt) })
}

/// Draws a dot for every step and neuron with a nonzero count; `counts` is `[T, N]` (or
/// `[B, T, N]`, of which the first sample is drawn).
pub fn plot_raster(path: impl AsRef<Path>, counts: &ArrayD<f64>, dt: f64) -> Result<(), PlotError> {
    let path = path.as_ref();
    let counts = first_sample(path, "spike counts", counts)?;
    save(path, &RasterFigure { counts, dt: time_step(dt) })
}

/// A figure that can be drawn on any plotters backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

struct LossFigure {
    points: Vec<(f64, f64)>,
    epochs: usize,
}

impl Figure for LossFigure {
    fn size(&self) -> (u32, u32) {
        LOSS_PLOT_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(text)?;
        // The axis is linear in log10(loss), labelled with the losses themselves: plotters' own
        // log axis repeats labels and crowds grid lines around decades.
        let logs: Vec<(f64, f64)> = self.points.iter().map(|&(epoch, loss)| (epoch, loss.log10())).collect();
        let (low, high) = logs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &(_, log)| (low.min(log), high.max(log)));
        let pad = if high > low { 0.05 * (high - low) } else { 0.5 };
        let last = self.points.last().map_or(f64::NAN, |point| point.1);
        let caption = format!("Loss over {} epochs (last {last:.4e})", self.epochs);
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(0.5..(self.epochs.max(1) as f64 + 0.5), (low - pad)..(high + pad))
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss (log scale)")
            .label_style(("sans-serif", 16))
            .x_label_formatter(&|epoch| format!("{epoch:.0}"))
            .y_label_formatter(&|log| format!("{:.1e}", 10f64.powf(*log)))
            .draw()
            .map_err(text)?;
        chart.draw_series(segments(&logs, OUTPUT_COLOUR.stroke_width(2))).map_err(text)?;
        root.present().map_err(text)
    }
}

/// `points` as separate two-point segments. plotters draws a wide polyline with miter joins,
/// which shoot far out of the chart where the line turns sharply (a loss spike, a jagged output).
fn segments(points: &[(f64, f64)], style: ShapeStyle) -> impl Iterator<Item = PathElement<(f64, f64)>> + '_ {
    let single = (points.len() == 1).then(|| PathElement::new(vec![points[0]; 2], style));
    points.windows(2).map(move |pair| PathElement::new(pair.to_vec(), style)).chain(single)
}

struct OutputFigure<'a> {
    output: ArrayView2<'a, f64>,
    target: ArrayView2<'a, f64>,
    dt: f64,
}

impl Figure for OutputFigure<'_> {
    fn size(&self) -> (u32, u32) {
        output_plot_size(self.output.ncols())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(text)?;
        let channels = self.output.ncols();
        let shown = channels.clamp(1, MAX_PLOTTED_CHANNELS);
        let title = if channels > shown {
            format!("Output and target, sample 0 (first {shown} of {channels} channels)")
        } else {
            "Output and target, sample 0".to_owned()
        };
        let body = root.titled(&title, ("sans-serif", 26)).map_err(text)?;
        let end = self.output.nrows() as f64 * self.dt;
        for (channel, panel) in body.split_evenly((shown, 1)).iter().enumerate().take(channels) {
            let series = |signal: &ArrayView2<'_, f64>| -> Vec<(f64, f64)> {
                signal
                    .column(channel)
                    .iter()
                    .enumerate()
                    .filter(|(_, value)| value.is_finite())
                    .map(|(step, value)| (step as f64 * self.dt, *value))
                    .collect()
            };
            let (output, target) = (series(&self.output), series(&self.target));
            let (low, high) = value_range(output.iter().chain(&target).map(|point| point.1));
            let mut chart = ChartBuilder::on(panel)
                .caption(format!("channel {channel}"), ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..end.max(self.dt), low..high)
                .map_err(text)?;
            chart
                .configure_mesh()
                .x_desc("time (s)")
                .label_style(("sans-serif", 15))
                .y_label_formatter(&|value| format!("{:.2}", if value.abs() < 5e-3 { 0.0 } else { *value }))
                .draw()
                .map_err(text)?;
            chart
                .draw_series(segments(&target, TARGET_COLOUR.stroke_width(2)))
                .map_err(text)?
                .label("target")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], TARGET_COLOUR.stroke_width(2)));
            chart
                .draw_series(segments(&output, OUTPUT_COLOUR.stroke_width(2)))
                .map_err(text)?
                .label("output")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], OUTPUT_COLOUR.stroke_width(2)));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(text)?;
        }
        root.present().map_err(text)
    }
}

struct RasterFigure<'a> {
    counts: ArrayView2<'a, f64>,
    dt: f64,
}

impl Figure for RasterFigure<'_> {
    fn size(&self) -> (u32, u32) {
        RASTER_PLOT_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(text)?;
        let (steps, neurons) = self.counts.dim();
        let spikes: Vec<(f64, f64)> = self
            .counts
            .indexed_iter()
            .filter(|(_, count)| **count > 0.0)
            .map(|((step, neuron), _)| (step as f64 * self.dt, neuron as f64))
            .collect();
        let total: f64 = self.counts.iter().filter(|count| **count > 0.0).sum();
        let caption = format!("Spike raster: {neurons} neurons, {total} spikes");
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..(steps as f64 * self.dt).max(self.dt), -0.5..(neurons as f64 - 0.5).max(0.5))
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("neuron")
            .label_style(("sans-serif", 16))
            .y_label_formatter(&|neuron| format!("{neuron:.0}"))
            .draw()
            .map_err(text)?;
        chart.draw_series(spikes.into_iter().map(|point| Circle::new(point, 2, BLACK.filled()))).map_err(text)?;
        root.present().map_err(text)
    }
}

/// Draws `figure` into a temporary file beside `path` and renames it into place.
fn save(path: &Path, figure: &impl Figure) -> Result<(), PlotError> {
    let format = match path.extension().and_then(|extension| extension.to_str()) {
        Some(extension) if extension.eq_ignore_ascii_case("png") => "png",
        Some(extension) if extension.eq_ignore_ascii_case("svg") => "svg",
        _ => return Err(PlotError::Format { path: path.to_path_buf() }),
    };
    register_font().map_err(|detail| PlotError::Draw { path: path.to_path_buf(), detail })?;
    let file_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.{:016x}.tmp.{format}", rand::random::<u64>()));
    let drawn = if format == "svg" {
        figure.draw(&SVGBackend::new(&temporary, figure.size()).into_drawing_area())
    } else {
        figure.draw(&BitMapBackend::new(&temporary, figure.size()).into_drawing_area())
    };
    let moved = match drawn {
        Ok(()) => fs::rename(&temporary, path).map_err(|source| PlotError::Io { path: path.to_path_buf(), source }),
        Err(detail) => Err(PlotError::Draw { path: path.to_path_buf(), detail }),
    };
    if moved.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    moved
}

/// Registers the bundled font as `sans-serif` once per process.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font DejaVuSans.ttf could not be loaded".to_owned())
        })
        .clone()
}

/// The first sample of a `[B, T, N]` array, or a `[T, N]` array itself.
fn first_sample<'a>(path: &Path, what: &str, array: &'a ArrayD<f64>) -> Result<ArrayView2<'a, f64>, PlotError> {
    let view = match array.ndim() {
        3 if array.shape()[0] > 0 => array.index_axis(Axis(0), 0),
        2 => array.view(),
        _ => {
            let detail = format!(
                "the {what} has shape {:?}; expected [time, channels] or [batch, time, channels] with a sample",
                array.shape()
            );
            return Err(PlotError::Data { path: path.to_path_buf(), detail });
        }
    };
    let view = view
        .into_dimensionality::<Ix2>()
        .map_err(|error| PlotError::Data { path: path.to_path_buf(), detail: error.to_string() })?;
    if view.is_empty() {
        let detail = format!("the {what} has shape {:?}, which holds nothing to draw", array.shape());
        return Err(PlotError::Data { path: path.to_path_buf(), detail });
    }
    Ok(view)
}

/// A usable time step: `dt` when positive and finite, else 1 (the axis then counts steps).
fn time_step(dt: f64) -> f64 {
    if dt.is_finite() && dt > 0.0 { dt } else { 1.0 }
}

/// The range of `values` padded by 5 %, or ±1 around a constant (or nothing finite).
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| (low.min(value), high.max(value)));
    if !(low.is_finite() && high.is_finite()) {
        return (-1.0, 1.0);
    }
    let pad = if high > low { 0.05 * (high - low) } else { 1.0 };
    (low - pad, high + pad)
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

#[cfg(test)]
#[path = "plot_tests.rs"]
mod tests;
