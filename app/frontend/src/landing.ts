import './style.css';
import { initPage } from './page';

initPage();
