use super::*;
use ndarray::IxDyn;

/// The width and height a PNG file declares, after checking its signature and IHDR chunk.
fn png_size(path: &Path) -> Result<(u32, u32), Box<dyn std::error::Error>> {
    let bytes = fs::read(path)?;
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return Err(format!("{} is not a PNG file", path.display()).into());
    }
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Ok((word(16), word(20)))
}

fn only_file(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_each_figure_as_a_png_of_the_declared_size() -> Result<(), Box<dyn std::error::Error>> {
    let folder = tempfile::tempdir()?;
    let losses: Vec<f64> = (0..200).map(|epoch| 0.5 * (-(epoch as f64) / 40.0).exp() + 1e-3).collect();
    plot_loss(folder.path().join("loss.png"), &losses)?;
    assert_eq!(png_size(&folder.path().join("loss.png"))?, LOSS_PLOT_SIZE);

    let steps = 300;
    let target = ArrayD::from_shape_fn(IxDyn(&[2, steps, 2]), |index| (index[1] as f64 * 0.03 + index[2] as f64).sin());
    let output = target.mapv(|value| 0.8 * value + 0.05);
    plot_output_vs_target(folder.path().join("output.png"), &output, &target, 1e-3)?;
    assert_eq!(png_size(&folder.path().join("output.png"))?, output_plot_size(2));

    let counts =
        ArrayD::from_shape_fn(IxDyn(&[steps, 20]), |index| f64::from((index[0] * 7 + index[1] * 13) % 50 == 0));
    plot_raster(folder.path().join("raster.png"), &counts, 1e-3)?;
    assert_eq!(png_size(&folder.path().join("raster.png"))?, RASTER_PLOT_SIZE);

    plot_loss(folder.path().join("loss.svg"), &losses)?;
    assert!(fs::read_to_string(folder.path().join("loss.svg"))?.contains("<svg"));
    // No temporary files are left behind.
    assert_eq!(only_file(folder.path()), ["loss.png", "loss.svg", "output.png", "raster.png"]);
    Ok(())
}

#[test]
fn bad_data_and_formats_are_errors_not_panics() -> Result<(), Box<dyn std::error::Error>> {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("loss.png");
    assert!(matches!(plot_loss(&path, &[0.0, f64::NAN]), Err(PlotError::Data { .. })));
    assert!(matches!(plot_loss(folder.path().join("loss.jpg"), &[1.0]), Err(PlotError::Format { .. })));
    let output = ArrayD::zeros(IxDyn(&[1, 10, 2]));
    let target = ArrayD::zeros(IxDyn(&[1, 10, 1]));
    let result = plot_output_vs_target(folder.path().join("output.png"), &output, &target, 1e-3);
    assert!(matches!(result, Err(PlotError::Data { .. })), "{result:?}");
    let result = plot_raster(folder.path().join("raster.png"), &ArrayD::zeros(IxDyn(&[4])), 1e-3);
    assert!(matches!(result, Err(PlotError::Data { .. })), "{result:?}");
    // A constant or NaN-holding output still draws.
    let flat = ArrayD::from_elem(IxDyn(&[10, 1]), f64::NAN);
    plot_output_vs_target(folder.path().join("flat.png"), &flat, &ArrayD::zeros(IxDyn(&[10, 1])), 1e-3)?;
    let missing = folder.path().join("gone").join("loss.png");
    assert!(plot_loss(&missing, &[1.0]).is_err());
    assert_eq!(only_file(folder.path()), ["flat.png"]);
    Ok(())
}
