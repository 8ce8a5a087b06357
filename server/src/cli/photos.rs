//! `doorstep photos usage [--area CODE]`: what photos take, per county, for an operator with
//! the database. Staff ask `GET /api/v1/photos/usage`.

use crate::storage::db::Db;
use crate::storage::photos;
use clap::Subcommand;
use schema::Message;
use schema::ids::AreaCode;

#[derive(Debug, Subcommand)]
pub enum PhotosCommand {
    /// Photos stored and their bytes (photos and thumbnails) per county, within an area.
    Usage {
        /// A province, city, county, township or village code; every county when absent.
        #[arg(long)]
        area: Option<String>,
    },
}

pub async fn run(db: &Db, command: PhotosCommand) -> Result<(), String> {
    match command {
        PhotosCommand::Usage { area } => {
            let area = match area.as_deref() {
                Some(code) => AreaCode::parse(code)
                    .map_err(|err| err.message.to_string())?
                    .to_string(),
                None => String::new(),
            };
            let counties = photos::usage(db, &area).await.map_err(|err| {
                Message::new(
                    format!("无法读取照片用量：{err}"),
                    format!("cannot read the photos' usage: {err}"),
                )
                .to_string()
            })?;
            println!("county\tphotos\tbytes\tthumb_bytes\tsealed");
            for county in counties {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    county.county, county.photos, county.bytes, county.thumb_bytes, county.sealed
                );
            }
            Ok(())
        }
    }
}
