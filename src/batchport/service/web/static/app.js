// Shows every <time datetime="…"> in the viewer's own time zone; without this script the
// page shows the UTC time it was rendered with.
document.addEventListener("DOMContentLoaded", () => {
  for (const time of document.querySelectorAll("time[datetime]")) {
    const when = new Date(time.dateTime);
    if (!Number.isNaN(when.getTime())) {
      time.textContent = when.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "medium"});
      time.title = time.dateTime;
    }
  }
});
