//! The errors of the device core. Each one carries the message a volunteer reads.

use schema::Message;
use schema::layout::LayoutError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the person typed or chose cannot be taken as it is. Nothing was stored.
    #[error("{}", .0.en)]
    InvalidInput(Message),
    /// The household is not on this device.
    #[error("household {0} is not on this device")]
    HouseholdNotFound(String),
    /// The household's village is not one this device is assigned to.
    #[error("village {0} is not assigned to this device")]
    VillageNotAssigned(String),
    /// The household document cannot be read as a household.
    #[error(transparent)]
    Document(#[from] LayoutError),
    /// Automerge refused an operation on a household document.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// Bytes received for a household are damaged; none of them were applied.
    #[error("damaged automerge data: {0}")]
    DamagedData(String),
    /// A household received from elsewhere names another household as itself; none of it
    /// was applied.
    #[error("the data sent as household {filed_under} is household {names}")]
    NotThisHousehold { filed_under: String, names: String },
    /// Received changes depend on changes that were not sent; none of them were kept.
    #[error("{0} changes are missing from the history that was sent")]
    MissingDependencies(usize),
    /// The device's database failed; the edit was not saved.
    #[error("storage: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The message to show the person, in Chinese and English.
    pub fn message(&self) -> Message {
        match self {
            Error::InvalidInput(message) => message.clone(),
            Error::HouseholdNotFound(id) => Message::new(
                format!("本设备上没有户“{id}”"),
                format!("Household \"{id}\" is not on this device"),
            ),
            Error::VillageNotAssigned(village) => Message::new(
                format!("村 {village} 未分配给本设备"),
                format!("Village {village} is not assigned to this device"),
            ),
            Error::Document(err) => err.message(),
            Error::Automerge(err) => Message::new(
                format!("户档案数据出错：{err}"),
                format!("The household document failed: {err}"),
            ),
            Error::DamagedData(err) => Message::new(
                format!("收到的数据已损坏，未保存：{err}"),
                format!("The received data is damaged and was not saved: {err}"),
            ),
            Error::NotThisHousehold { filed_under, names } => Message::new(
                format!("收到的数据不是户“{filed_under}”的档案（其中写的是“{names}”），未保存"),
                format!(
                    "The data received as household \"{filed_under}\" is the document of \"{names}\"; it was not saved"
                ),
            ),
            Error::MissingDependencies(count) => Message::new(
                format!("收到的修改缺少 {count} 条前序记录，未保存；请重新同步"),
                format!(
                    "The received changes lack {count} earlier changes and were not saved; sync again"
                ),
            ),
            Error::Storage(err) => Message::new(
                format!("本机存储出错，本次修改未保存：{err}"),
                format!("The device's storage failed; this edit was not saved: {err}"),
            ),
            Error::Io(err) => Message::new(
                format!("读写文件出错：{err}"),
                format!("A file could not be read or written: {err}"),
            ),
        }
    }
}

impl From<schema::ids::InvalidId> for Error {
    fn from(err: schema::ids::InvalidId) -> Self {
        Error::InvalidInput(err.message)
    }
}

impl From<schema::fields::InvalidPath> for Error {
    fn from(err: schema::fields::InvalidPath) -> Self {
        Error::InvalidInput(err.message)
    }
}

impl From<schema::IdNumberError> for Error {
    fn from(err: schema::IdNumberError) -> Self {
        Error::InvalidInput(err.message())
    }
}
