"""Sphinx configuration of the offline documentation site (`bash scripts/docs.sh`; see README.md here).

tools/build_docs.py prepares the notebooks of nbs/ and runs Sphinx with this folder as its configuration
folder; title, repository and branch come from settings.ini, as `nbdev_docs` takes them for Quarto."""
from configparser import ConfigParser
from pathlib import Path

_ini = ConfigParser(); _ini.read(Path(__file__).resolve().parents[1]/'settings.ini')
_s = _ini['DEFAULT']

project = _s.get('title', _s['lib_name'])
author = _s['author']
copyright = _s['copyright']
release = version = _s['version']
html_title = project

extensions = ['myst_nb']
root_doc = 'index'
exclude_patterns = ['**.ipynb_checkpoints']

# MyST-NB: never execute; show what the notebooks saved
nb_execution_mode = 'off'
nb_merge_streams = True
nb_code_prompt_show = 'Show exported {type}'
nb_code_prompt_hide = 'Hide exported {type}'
myst_enable_extensions = ['colon_fence', 'dollarmath', 'deflist', 'html_image', 'attrs_inline']
# show_doc blocks use ### under a notebook's #, and notebooks are lessons, not strict outlines
suppress_warnings = ['myst.header']

html_theme = 'sphinx_book_theme'
html_sidebars = {'**': ['sbt-sidebar-nav.html']}  # the notebooks in order; title and search live in the navbar
html_static_path = ['_static']
html_css_files = ['edgeglass.css']
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    'repository_url': _s['git_url'],
    'repository_branch': _s.get('branch', 'main'),
    'path_to_docs': _s.get('nbs_path', 'nbs'),
    'use_repository_button': False,
    'use_issues_button': True,
    'use_download_button': False,
    'use_source_button': False,
    'use_edit_page_button': False,
    'home_page_in_toc': True,
    'show_toc_level': 2,
    'logo': {'text': project},
    # a navbar as on an nbdev site: the title on the left, search and GitHub on the right
    'navbar_start': ['navbar-logo'],
    'navbar_center': [],
    'navbar_end': ['search-button-field', 'navbar-icon-links'],
    'navbar_persistent': [],
    'icon_links': [{'name': 'GitHub', 'url': _s['git_url'], 'icon': 'fa-brands fa-github', 'type': 'fontawesome'}],
    'article_header_start': ['toggle-primary-sidebar.html', 'breadcrumbs'],
    'extra_footer': f'<p>{_s["description"]}</p>',
}
