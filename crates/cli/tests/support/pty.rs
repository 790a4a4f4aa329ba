//! A pseudoterminal for the CLI's tests: the side a program sees as its terminal, and the
//! controller side the test types into and reads what is shown from.

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// (the terminal to give the program, the controller).
pub(crate) fn open() -> (std::fs::File, std::fs::File) {
    let controller = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudoterminal");
    grantpt(&controller).unwrap();
    unlockpt(&controller).unwrap();
    let terminal_path = ptsname(&controller, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(terminal_path.to_str().unwrap())
        .expect("open the terminal side");
    (terminal, std::fs::File::from(controller))
}
