"""Task apps over CalDAV: Radicale, a well-kept CalDAV server used as a library, on tracker's own storage.

`places` names the collections and decides who may read or write them; `storage` is Radicale's storage plugin
over the database and `lists` its collections (resources, ETags, sync tokens); `writes` turns a task an app sends
back into the same core calls as the CLI and the web; `radicale_app` builds the WSGI application the web server
mounts at /dav/.
"""
